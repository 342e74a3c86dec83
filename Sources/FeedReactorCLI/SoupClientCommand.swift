import ArgumentParser
import MoldUDP64
import Reactor
import SoupBinTCP

/// `feedreactor soup-client`: a SoupBinTCP 3.00 client on the command line,
/// with `listen`'s output contract.
struct SoupClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soup-client",
        abstract: "Log in to a SoupBinTCP server and receive its sequenced session.",
        usage: """
        feedreactor soup-client --connect <host:port> (--count <n> | --until-end-of-session | --timeout <seconds>) [<options>]
        """,
        discussion: """
        Logs in at --from-seq (0: from the next new message) and delivers the session in \
        order; after a dropped connection it logs in again at the next message it needs. \
        With --print each message is one stdout line `<seq> <hex payload>`. The last \
        stderr line is a `key=value` summary. Exit 0 when the requested count or the end \
        of session was reached with nothing missing; 2 when it stopped short or the server \
        no longer held messages asked for; 3 when the login was rejected.
        """)

    @Option(help: ArgumentHelp("SoupBinTCP server HOST:PORT (feedreactor publish --soup-port).", valueName: "host:port"),
            transform: hostPort("--connect")) var connect: String
    @Option(help: "Username (at most 6 characters).") var user: String = ""
    @Option(help: "Password (at most 10 characters).") var password: String = ""
    @Option(help: "Session to log into (empty: the server's current one).") var session: String = ""
    @Option(name: .customLong("from-seq"), parsing: .unconditional, help: "First sequence number wanted (0: from the next new message).",
            transform: wholeNumber("--from-seq")) var fromSeq: UInt64 = 1
    @Option(parsing: .unconditional, help: "Stop (and log out) after this many messages.", transform: wholeNumber("--count", 1...UInt64.max)) var count: UInt64?
    @Flag(name: .customLong("until-end-of-session"), help: "Stop at the server's End of Session.") var untilEndOfSession = false
    @Option(parsing: .unconditional, help: "Give up after this many seconds (alone: receive this long).", transform: decimal("--timeout", 0.001...31_536_000, unit: " s")) var timeout: Double?
    @Flag(help: "Print each message as `<seq> <hex>` on stdout.") var print = false
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .auto

    func validate() throws {
        if count == nil && !untilEndOfSession && timeout == nil {
            throw ValidationError("say when to stop: --count N, --until-end-of-session or --timeout SECONDS")
        }
        do {
            _ = try SoupClient(configuration: .init(username: user, password: password, session: session), consumer: nil)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        let reactor = try Reactor(backend: backend)
        let consumer = ListenConsumer(print: print, target: count, untilEndOfSession: untilEndOfSession, reactor: reactor)
        consumer.stopAtTarget = true
        let client = try SoupClient(configuration: .init(username: user, password: password, session: session,
                                                         firstSequence: fromSeq), consumer: consumer)
        let address = try SocketAddress(resolving: connect)
        let tcp = try SoupTCPClient(client: client, server: address, reactor: reactor,
                                    configuration: .init(maxConnectAttempts: 20))
        tcp.onFinished = { outcome in
            if outcome != .loggedOut { reactor.stop() }
        }
        let stopper = Stopper()
        if let timeout { try reactor.schedule(after: Nanoseconds.seconds(timeout), handler: stopper) }
        note("soup-client: connecting to \(address) backend=\(reactor.backendKind)")
        try reactor.run(idle: .block)
        consumer.flush()
        if !tcp.isFinished {
            // Reached the count or the timeout: say goodbye properly (2.3.4).
            tcp.logout()
            try? pump(reactor, until: { !tcp.isConnected })
        }
        let timeoutOnly = count == nil && !untilEndOfSession
        let reached = consumer.reachedTarget || (timeoutOnly && stopper.fired)
        let c = client.counters
        let summary = "messages=\(consumer.delivered) logins=\(c.logins) logins_accepted=\(c.loginsAccepted) "
            + "rejected=\(client.rejection.map { String(UnicodeScalar($0.rawValue)) } ?? "none") "
            + "heartbeats_received=\(c.heartbeatsReceived) malformed=\(c.malformed) lost_at_login=\(c.lostAtLogin) "
            + "drops=\(tcp.drops) next=\(client.nextSequence) session=\(client.session?.description ?? "") "
            + "outcome=\(outcomeName(tcp.outcome, reached: reached)) timed_out=\(stopper.fired) backend=\(reactor.backendKind)"
            + " missing=\(consumer.lostRanges.summaryValue)"
        if let rejection = client.rejection {
            note("soup-client: the server rejected the login: \(rejection); "
                 + (rejection == .notAuthorized ? "check --user and --password" : "check --session (empty: the current one)"))
            note(summary)
            throw ExitCode(3)
        }
        if case .unreachable(let reason)? = tcp.outcome {
            note("soup-client: cannot reach \(address): \(reason); is `feedreactor publish --soup-port` running there?")
            note(summary)
            throw ExitCode(2)
        }
        guard reached, consumer.lostRanges.isEmpty else {
            let why = consumer.lostRanges.isEmpty
                ? "stopped before the \(untilEndOfSession ? "end of session" : "requested count") (timeout)"
                : "the server no longer held \(consumer.lostRanges.description) (\(consumer.lostRanges.messageCount) messages)"
            note("soup-client: incomplete: \(why)")
            note(summary)
            throw ExitCode(2)
        }
        note(summary)
    }

    func outcomeName(_ outcome: SoupTCPClient.Outcome?, reached: Bool) -> String {
        switch outcome {
        case nil, .loggedOut?: reached ? "complete" : "stopped"
        case .endOfSession?: "end_of_session"
        case .rejected?: "rejected"
        case .unreachable?: "unreachable"
        case .closed?: "closed"
        }
    }
}

/// Runs `reactor` until `condition` holds, at most `cycles` cycles of 10 ms.
func pump(_ reactor: Reactor, cycles: Int = 100, until condition: () -> Bool) throws {
    var n = 0
    while !condition() && n < cycles {
        _ = try reactor.runOnce(timeout: 10_000_000)
        n += 1
    }
}
