import ArgumentParser
import Reactor
import ReliableUDP
import ReliableUDPCrypto

/// `feedreactor rudp-echo --listen ADDR:PORT [--key-file F]`: an EndpointServer
/// that sends every message back on its connection with the same guarantee.
struct RudpEcho: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rudp-echo",
        abstract: "ReliableUDP echo server: every message goes back with its guarantee.")

    @Option(help: "Address and port to listen on.") var listen: String
    @Option(name: .customLong("key-file"), help: "Pre-shared key (32 raw bytes or 64 hex digits): ChaCha20-Poly1305.")
    var keyFile: String?
    @Option(name: .customLong("max-connections"), help: "Connections at most.") var maxConnections: Int = 1024
    @Option(help: "Largest message in bytes.") var maxMessage: Int = 1024
    @Option(help: "Exit after this many seconds (0: run until killed).") var timeout: Double = 0
    @Option(name: .customLong("granularity-us"),
            help: "Timer granularity (RFC 9002 §6.1.2 kGranularity) in µs: the floor of the loss time threshold and of the PTO. The RFC recommends 1000; the reactor's timers tick every 100.")
    var granularityMicroseconds: UInt64 = 100

    final class Echo: EndpointServerDelegate {
        var echoed: UInt64 = 0
        var refused: UInt64 = 0
        func server(_ server: EndpointServer, connection id: UInt64, received message: ReceivedMessage) {
            do {
                try server.send(to: id, message.guarantee, message.bytes)
                echoed += 1
            } catch {
                refused += 1
            }
        }
        func server(_ server: EndpointServer, accepted id: UInt64) { note("rudp-echo: accepted connection \(id)") }
        func server(_ server: EndpointServer, ended id: UInt64, state: Connection.State) {
            note("rudp-echo: connection \(id) ended (\(state))")
        }
    }

    func run() throws {
        let reactor = try Reactor()
        let socket = try UDPSocket.bound(to: SocketAddress(parsing: listen))
        _ = try? socket.setReceiveBuffer(bytes: 8 << 20)
        _ = try? socket.setSendBuffer(bytes: 8 << 20)
        var configuration = Configuration()
        configuration.maxMessageSize = maxMessage
        guard granularityMicroseconds > 0 else { throw ValidationError("--granularity-us must be at least 1") }
        configuration.granularity = granularityMicroseconds * 1000
        let protection = try serverProtection(keyFile: keyFile)
        let echo = Echo()
        let server = try EndpointServer(reactor: reactor, socket: socket, configuration: configuration,
                                        maxConnections: maxConnections, protection: protection, delegate: echo)
        note("rudp-echo: listening on \(try socket.localAddress())\(keyFile == nil ? "" : " (encrypted)")")
        note("ready")
        if timeout > 0 { try reactor.schedule(after: Nanoseconds.seconds(timeout), handler: Stopper()) }
        try reactor.run()
        print("echoed=\(echo.echoed) refused=\(echo.refused) connections=\(server.counters.accepted) "
              + "cookies=\(server.counters.cookiesSent) malformed=\(server.counters.malformed)")
    }
}

/// `--guarantee none|order|delivery`
extension Guarantee: ExpressibleByArgument {
    /// The guarantee `description` spells as `argument` (`none`, `order`,
    /// `delivery`); nil for anything else, which ArgumentParser reports as an
    /// invalid value for the option.
    public init?(argument: String) {
        guard let match = Guarantee.allCases.first(where: { $0.description == argument }) else { return nil }
        self = match
    }
}

/// `--key-file`: one ChaCha20-Poly1305 protection per connection (responder side).
func serverProtection(keyFile: String?) throws -> ((UInt64) -> any PacketProtection)? {
    guard let keyFile else { return nil }
    let key = try SealedPackets.readKey(path: keyFile)
    _ = try SealedPackets(preSharedKey: key, isInitiator: false)  // check the key once, here
    return { _ in try! SealedPackets(preSharedKey: key, isInitiator: false) }
}

/// `--key-file` on the connecting side (initiator).
func clientProtection(keyFile: String?) throws -> (any PacketProtection)? {
    guard let keyFile else { return nil }
    return try SealedPackets(preSharedKey: SealedPackets.readKey(path: keyFile), isInitiator: true)
}
