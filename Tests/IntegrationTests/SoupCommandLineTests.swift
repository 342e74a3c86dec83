import Foundation
import MoldUDP64
import Reactor
import Testing
import TestSupport

/// `feedreactor publish --soup-port` and `feedreactor soup-client` as separate
/// processes on loopback: login, replay, End of Session, the output contract,
/// and the exit codes of a rejected login and an unreachable server.
@Suite(.serialized) struct SoupCommandLineTests {
    typealias Run = PublishListenProcessTests.Run
    static let enabled = PublishListenProcessTests.binaryExists

    /// The HOST:PORT the publisher printed for its SoupBinTCP server.
    func soupAddress(_ publish: Run) -> String? {
        guard publish.waitFor("SoupBinTCP server on ", seconds: 20) else { return nil }
        let line = publish.errorText.split(separator: "\n").first { $0.contains("SoupBinTCP server on ") }
        return line.map { String($0.split(separator: " ").last!) }
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func soupClientReceivesThePublishedSessionInOrderThenEndOfSession() throws {
        let port = try PublishListenProcessTests().freePort()
        let publish = try Run(["publish", "--group", "239.255.63.\(port % 200 + 1)", "--port", "\(port)",
                               "--interface", "127.0.0.1", "--session", "SOUPCLI001", "--messages", "3000",
                               "--rate", "20000", "--size", "8:40", "--seed", "5", "--soup-port", "0",
                               "--soup-user", "feed", "--soup-password", "secret", "--linger", "8"])
        let address = try #require(soupAddress(publish), "publish: \(publish.errorText)")

        let client = try Run(["soup-client", "--connect", address, "--user", "feed", "--password", "secret",
                              "--until-end-of-session", "--timeout", "20", "--print", "--backend", "epoll"])
        #expect(client.finish(seconds: 30) == 0, "\(client.errorText)")
        let lines = client.outputText.split(separator: "\n")
        #expect(lines.count == 3000)
        #expect(PublishListenProcessTests.mismatches(lines, payloads: PayloadGenerator(seed: 5, sizes: 8...40)) == 0)
        let summary = client.errorText.split(separator: "\n").last ?? ""
        #expect(summary.hasPrefix("messages=3000 "), "\(summary)")
        #expect(summary.contains("outcome=end_of_session") && summary.contains("missing=none"), "\(summary)")

        // A late login from the middle, exactly --count messages.
        let middle = try Run(["soup-client", "--connect", address, "--user", "feed", "--password", "secret",
                              "--from-seq", "2990", "--count", "5", "--print"])
        #expect(middle.finish(seconds: 20) == 0, "\(middle.errorText)")
        #expect(middle.outputText.split(separator: "\n").map { $0.split(separator: " ")[0] } == ["2990", "2991", "2992", "2993", "2994"])

        let wrong = try Run(["soup-client", "--connect", address, "--user", "feed", "--password", "guess", "--count", "1"])
        #expect(wrong.finish(seconds: 20) == 3)
        #expect(wrong.errorText.contains("rejected the login: not authorized"), "\(wrong.errorText)")
        #expect(wrong.errorText.contains("check --user and --password"), "\(wrong.errorText)")
        #expect((wrong.errorText.split(separator: "\n").last ?? "").contains("rejected=A"))

        #expect(publish.finish(seconds: 30) == 0, "\(publish.errorText)")
        let published = publish.errorText.split(separator: "\n").last ?? ""
        #expect(published.contains("soup_logins=2") && published.contains("soup_rejected=1"), "\(published)")
    }

    /// `listen --soup` alone: every gap of a lossy feed is recovered over TCP.
    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func listenRecoversOverSoupBinTCPAlone() throws {
        let port = try PublishListenProcessTests().freePort()
        let group = "239.255.64.\(port % 200 + 1)"
        // The publisher first (its TCP port is the kernel's choice); the
        // listener joins while it lingers before the first message.
        let publish = try Run(["publish", "--group", group, "--port", "\(port)", "--interface", "127.0.0.1",
                               "--session", "SOUPLSN001", "--messages", "20000", "--rate", "20000", "--drop", "0.05",
                               "--seed", "6", "--soup-port", "0", "--linger", "3"])
        let address = try #require(soupAddress(publish), "publish: \(publish.errorText)")
        let listen = try Run(["listen", "--group", group, "--port", "\(port)", "--interface", "127.0.0.1",
                              "--soup", address, "--session", "SOUPLSN001", "--until-end-of-session",
                              "--timeout", "30", "--print", "--backend", "epoll"])
        let status = listen.finish(seconds: 40)
        _ = publish.finish(seconds: 30)
        #expect(status == 0, "\(listen.errorText)")
        let lines = listen.outputText.split(separator: "\n")
        #expect(lines.count == 20_000)
        #expect(lines.enumerated().allSatisfy { $0.element.hasPrefix("\($0.offset + 1) ") })
        let summary = listen.errorText.split(separator: "\n").last ?? ""
        #expect(summary.contains("missing=none") && summary.contains("requests=0 "), "\(summary)")
        #expect(!summary.contains("tcp_messages=0 ") && summary.contains("tcp_failed=0"), "\(summary)")
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"), arguments: ["tcp", "both"])
    func demoRecoversOverTCP(_ recovery: String) throws {
        let demo = try Run(["demo", "--recovery", recovery, "--messages", "30000", "--quiet", "--group", "239.255.65.\(recovery == "tcp" ? 1 : 3)"])
        #expect(demo.finish(seconds: 60) == 0, "\(demo.errorText)")
        let report = demo.outputText
        #expect(report.contains("30000 of 30000 in order, each exactly once"), "\(report)")
        let paths = report.split(separator: "\n").first { $0.contains("paths") }.map(String.init) ?? ""
        #expect(paths.contains("over SoupBinTCP (recovery \(recovery))") && !paths.contains(" 0 over SoupBinTCP"), "\(paths)")
        if recovery == "tcp" { #expect(paths.contains(" 0 over UDP re-requests"), "\(paths)") }
    }

    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"))
    func soupClientMistakesAreNamed() throws {
        // Nobody listens on a port just released.
        let listener = try TCPListener.bound(to: SocketAddress("127.0.0.1", port: 0))
        let address = try listener.localAddress()
        listener.close()
        let unreachable = try Run(["soup-client", "--connect", "\(address)", "--count", "1", "--timeout", "20"])
        #expect(unreachable.finish(seconds: 30) == 2)
        #expect(unreachable.errorText.contains("cannot reach \(address)"), "\(unreachable.errorText)")
        let noStop = try Run(["soup-client", "--connect", "\(address)"])
        #expect(noStop.finish(seconds: 20) == 64)
        #expect(noStop.errorText.contains("say when to stop"), "\(noStop.errorText)")
        let longUser = try Run(["soup-client", "--connect", "\(address)", "--user", "toolonguser", "--count", "1"])
        #expect(longUser.finish(seconds: 20) == 64)
        #expect(longUser.errorText.contains("1 to 6 printable ASCII characters"), "\(longUser.errorText)")
    }

    /// `soup-recovery-bench` recovers its gap over each path, every message
    /// delivered, and prints its one line.
    @Test(.enabled(if: enabled, "needs the feedreactor executable (swift build)"), arguments: ["tcp", "udp"])
    func recoveryBenchRecoversTheGapOverEachPath(_ path: String) throws {
        let bench = try Run(["soup-recovery-bench", "--path", path, "--gap", "2000", "--timeout", "20",
                             "--group", path == "tcp" ? "239.255.81.2" : "239.255.81.3"])
        #expect(bench.finish(seconds: 30) == 0, "\(bench.errorText)")
        #expect(bench.outputText.hasPrefix("path=\(path) gap=2000 seconds="), "\(bench.outputText)")
    }
}
