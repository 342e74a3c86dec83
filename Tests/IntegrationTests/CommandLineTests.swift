import Foundation
import Reactor
import Testing
import TestSupport

/// The `feedreactor` command as a new user meets it: help text, argument errors,
/// exit codes (issue 16's CLI defects, one test each). Every run is bounded.
@Suite struct CommandLineTests {
    typealias Run = PublishListenProcessTests.Run

    /// Runs `feedreactor arguments` to the end (at most `seconds`); status, stdout, stderr.
    func run(_ arguments: [String], seconds: Double = 20) throws -> (status: Int32?, out: String, err: String) {
        let process = try Run(arguments)
        let status = process.finish(seconds: seconds)
        return (status, process.outputText, process.errorText)
    }

    static let enabled = PublishListenProcessTests.binaryExists

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"),
          arguments: ["listen", "rx-bench", "demo", "latency-bench"])
    func idleHelpShowsTheDefaultByNameAndEveryValue(_ command: String) throws {
        let help = try run([command, "--help"])
        #expect(help.status == 0)
        let text = help.out + help.err
        #expect(!text.contains("IdleOption("), "\(text)")
        #expect(text.contains("default: block") || text.contains("default: spin"), "\(text)")
        for value in ["block", "spin", "yield", "backoff"] { #expect(text.contains(value), "\(value) missing: \(text)") }
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func listenUsageShowsWhatIsRequired() throws {
        let help = try run(["listen", "--help"])
        let usage = help.out
        #expect(usage.contains("--rerequest <host:port> [--rerequest"), "\(usage)")
        #expect(usage.contains("(--count <n> | --until-end-of-session | --timeout <seconds>)"), "\(usage)")
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func listenWithoutRerequestSaysSo() throws {
        let result = try run(["listen", "--group", "239.255.70.1", "--port", "41000", "--timeout", "1"])
        #expect(result.status == 64, "\(result.err)")
        #expect(result.err.contains("listen needs --rerequest HOST:PORT"), "\(result.err)")
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func listenWithOnlyATimeoutEndsCleanly() throws {
        let (socket, server) = try loopbackSocket()
        defer { socket.close() }
        let result = try run(["listen", "--group", "239.255.70.2", "--port", "\(server.port)", "--interface", "127.0.0.1",
                              "--rerequest", "127.0.0.1:\(server.port)", "--timeout", "0.3", "--backend", "epoll"])
        #expect(result.status == 0, "\(result.err)")
        #expect(!result.err.contains("requested count"), "\(result.err)")
        #expect(result.err.contains("timed_out=true"), "\(result.err)")
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"),
          arguments: [("127.0.0.1", "has no port"), ("127.0.0.1:99999", "out of range"),
                      ("no-such-host.invalid:41001", "cannot resolve host 'no-such-host.invalid'"),
                      ("::1:41001", "in brackets"), ("127.0.0.1:abc", "not a port number")])
    func rerequestMistakesAreNamed(_ value: String, _ message: String) throws {
        let result = try run(["listen", "--group", "239.255.70.3", "--port", "41000", "--rerequest", value, "--timeout", "1"])
        #expect(result.status == 64, "\(result.err)")
        #expect(result.err.contains(message), "\(result.err)")
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"),
          arguments: [(["--drop", "-0.5"], "--drop takes a number from 0 to 1; got -0.5"),
                      (["--messages", "-5"], "--messages takes a whole number from 0 to 18446744073709551615; got '-5'"),
                      (["--rate", "-1"], "--rate takes a number from 0 to 1000000000; got -1")])
    func negativeNumbersGetARangeMessage(_ extra: [String], _ message: String) throws {
        var arguments = ["publish", "--group", "239.255.70.4", "--port", "41000", "--session", "NEG", "--messages", "1"]
        if extra[0] == "--messages" { arguments.removeLast(2) }
        let result = try run(arguments + extra)
        #expect(result.status == 64, "\(result.err)")
        #expect(result.err.contains(message), "\(result.err)")
        #expect(!result.err.contains("Missing value"), "\(result.err)")
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func busyPortErrorGivesAFixTheCommandCanUse() throws {
        let (socket, taken) = try loopbackSocket()
        defer { socket.close() }
        let result = try run(["publish", "--group", "239.255.70.5", "--port", "41000", "--interface", "127.0.0.1",
                              "--session", "BUSY", "--messages", "1", "--retransmit-port", "\(taken.port)", "--linger", "0"])
        #expect(result.status != 0)
        #expect(result.err.contains("another socket holds that address; pick another port"), "\(result.err)")
        #expect(!result.err.contains("reuseAddress"), "\(result.err)")
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func publishBindsItsServerToTheInterfaceAddress() throws {
        let result = try run(["publish", "--group", "239.255.70.6", "--port", "41000", "--interface", "127.0.0.1",
                              "--session", "BIND", "--messages", "5", "--retransmit-port", "0", "--linger", "0"])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.err.contains("retransmission server on 127.0.0.1:"), "\(result.err)")
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func rxBenchWithoutASenderTimesOut() throws {
        let result = try run(["rx-bench", "--address", "127.0.0.1", "--port", "0", "--timeout", "0.3"])
        #expect(result.status == 2, "\(result.err)")
        #expect(result.out.contains("pps=0 received=0"), "\(result.out)")
        #expect(result.err.contains("timed out after 0.3 s without the end marker"), "\(result.err)")
        let help = try run(["rx-bench", "--help"])
        #expect(help.out.contains("Interface for a multicast join: an address, index or"), "\(help.out)")
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func completionScriptsAreGenerated() throws {
        let result = try run(["--generate-completion-script", "bash"])
        #expect(result.status == 0)
        #expect(result.out.contains("listen") && result.out.contains("--rerequest"), "\(result.out.prefix(200))")
    }

    @Test func hostPortParsing() throws {
        let local = try SocketAddress(resolving: "localhost:41001")
        #expect(local.port == 41001)
        #expect(local.host == "127.0.0.1" || local.host == "::1")
        #expect(try SocketAddress(resolving: "[::1]:5") == SocketAddress("::1", port: 5))
        #expect(try SocketAddress(resolving: "10.1.2.3:7") == SocketAddress("10.1.2.3", port: 7))
        #expect(throws: ReactorError.invalidArgument("port 0 in '127.0.0.1:0' is out of range: ports are 1-65535")) {
            try SocketAddress(resolving: "127.0.0.1:0")
        }
    }
}
