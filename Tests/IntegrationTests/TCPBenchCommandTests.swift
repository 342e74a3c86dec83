import Foundation
import Reactor
import Testing
import TestSupport

/// `feedreactor tcp-bench` as Benchmarks/tcp.sh drives it: the subcommand names
/// and the one-line results of DESIGN.md's command contract, small and bounded.
@Suite struct TCPBenchCommandTests {
    typealias Run = PublishListenProcessTests.Run
    static let enabled = PublishListenProcessTests.binaryExists

    /// A server subcommand started and waited for (`ready` on stderr).
    func server(_ arguments: [String]) throws -> Run {
        let run = try Run(arguments)
        #expect(run.waitFor("ready", seconds: 20), "\(arguments): \(run.errorText)")
        return run
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"), arguments: ["epoll", "uring"])
    func sinkCountsEveryByteTheSourceSends(_ backend: String) throws {
        if backend == "uring" && !TestEnvironment.backends.contains(.uring) { return }
        let port = try freeTCPPort()
        let sink = try server(["tcp-bench", "sink", "--listen", "127.0.0.1:\(port)", "--backend", backend, "--timeout", "20"])
        let source = try Run(["tcp-bench", "source", "--connect", "127.0.0.1:\(port)", "--bytes", "3000000",
                              "--write-size", "7000", "--timeout", "20"])
        #expect(source.finish(seconds: 30) == 0, "\(source.errorText)")
        #expect(sink.finish(seconds: 30) == 0, "\(sink.errorText)")
        let line = sink.outputText
        #expect(line.hasPrefix("gbps="), "\(line)")
        #expect(line.contains(" bytes=3000000"), "\(line)")
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func pingpongAgainstEchoPrintsItsPercentiles() throws {
        let port = try freeTCPPort()
        let echo = try server(["tcp-bench", "echo", "--listen", "127.0.0.1:\(port)", "--max-connections", "8",
                               "--timeout", "30"])
        // SIGKILL: the test process's signal mask (inherited by the child) may block SIGTERM.
        defer { kill(echo.process.processIdentifier, SIGKILL); _ = echo.finish(seconds: 5) }
        let ping = try Run(["tcp-bench", "pingpong", "--connect", "127.0.0.1:\(port)", "--count", "400",
                            "--warmup", "40", "--connections", "4", "--timeout", "20"])
        #expect(ping.finish(seconds: 30) == 0, "\(ping.errorText)")
        let fields = Dictionary(uniqueKeysWithValues: ping.outputText.split(whereSeparator: \.isWhitespace).compactMap {
            field -> (String, Int)? in
            let parts = field.split(separator: "=")
            guard parts.count == 2, let value = Int(parts[1]) else { return nil }
            return (String(parts[0]), value)
        })
        #expect(Set(fields.keys) == ["p50_ns", "p99_ns", "p999_ns", "msgs_per_s"], "\(ping.outputText)")
        #expect((fields["p50_ns"] ?? 0) > 0 && (fields["p50_ns"] ?? 0) <= (fields["p99_ns"] ?? 0), "\(ping.outputText)")
        #expect((fields["msgs_per_s"] ?? 0) > 0, "\(ping.outputText)")
    }
}
