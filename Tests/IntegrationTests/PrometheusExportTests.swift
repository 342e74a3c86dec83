import Foundation
import Testing
import TestSupport

/// `Examples/PrometheusExport` serves the counters over HTTP on loopback; this
/// fetches the page the way a Prometheus scraper does and checks the feed's
/// counters are there and moving.
@Suite struct PrometheusExportTests {
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("PrometheusExport")
    }

    /// One HTTP GET over a plain TCP socket; the whole response.
    func fetch(port: UInt16, path: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var response = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }

    /// The value of the first sample line starting with `name`.
    func sample(_ page: String, _ name: String) -> Double? {
        for line in page.split(separator: "\n") where line.hasPrefix(name) {
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary.path), "needs the PrometheusExport example (swift build)"))
    func servesTheFeedCountersOnLoopback() throws {
        let process = ChildProcess()
        process.executableURL = Self.binary
        process.arguments = ["--port", "0", "--seconds", "20"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // SIGKILL: a child can inherit SIGTERM ignored from the test runner.
        defer { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        // The first line names the URL (bounded: the process ends by itself after 20 s).
        let text = output.readFirstLine()
        let port = try #require(text.split(separator: ":").last.flatMap { UInt16($0.prefix { $0.isNumber }) }, "\(text)")

        var first: Double?
        var page = ""
        for _ in 0..<100 {   // up to ~10 s of 100 ms snapshots
            page = fetch(port: port, path: "/metrics") ?? ""
            if let value = sample(page, "feedreactor_moldudp64_client_delivered"), value > 0 {
                if let first, value > first { break }
                if first == nil { first = value }
            }
            usleep(100_000)   // a scraper's interval, not synchronisation: each fetch is checked
        }
        #expect(page.hasPrefix("HTTP/1.1 200 OK"), "\(page.prefix(200))")
        let delivered = try #require(sample(page, "feedreactor_moldudp64_client_delivered"), "\(page)")
        #expect(delivered > (first ?? 0), "the delivered counter did not move between scrapes")
        #expect(page.contains("# TYPE feedreactor_reactor_datagrams counter"))
        #expect(sample(page, "feedreactor_moldudp64_publisher_messages").map { $0 > 0 } == true)
        #expect(page.contains("feedreactor_multicast_line_datagrams{"))
    }
}
