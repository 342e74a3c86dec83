// The code of Sources/Capture/Capture.docc/GettingStartedWithCapture.md, line for
// line (DocumentationArticleTests checks that), run and checked.

import Foundation
import Testing
import Capture

@Suite struct CaptureGettingStartedTests {
    @Test func writeThenReadTheDatagramsBack() throws {
        let path = NSTemporaryDirectory() + "capture-getting-started-\(UUID().uuidString).pcap"
        defer { try? FileManager.default.removeItem(atPath: path) }

        // Three UDP datagrams from 10.0.0.1:30000 to 239.1.1.1:41000, 10 µs apart.
        let writer = try PcapWriter(path: path)
        let source = PcapWriter.Endpoint(CapturedAddress(ipv4: 0x0A00_0001), port: 30_000)
        let group = PcapWriter.Endpoint(CapturedAddress(ipv4: 0xEF01_0101), port: 41_000)
        var time: UInt64 = 1_764_579_000_000_000_000   // nanoseconds since the Unix epoch
        for text in ["one", "two", "three"] {
            try Array(text.utf8).withUnsafeBytes { try writer.writeUDP($0, timestamp: time, source: source, destination: group) }
            time += 10_000
        }
        try writer.close()

        let file = try CaptureFile(path: path)          // mapped read-only: records are views
        let datagrams = try DatagramReader(file.bytes)  // pcap or pcapng; IPv4 fragments reassembled
        var payloads: [String] = []
        while let datagram = try datagrams.next() {
            guard datagram.destination.isMulticast, datagram.destinationPort == 41_000 else { continue }
            payloads.append(String(decoding: datagram.payload, as: UTF8.self))   // a copy: the view ends at next()
        }
        print(payloads, datagrams.counters.summary)

        #expect(payloads == ["one", "two", "three"])
        #expect(datagrams.reader.format == .pcap(nanoseconds: true, swapped: false))
        #expect(writer.records == 3)
    }
}
