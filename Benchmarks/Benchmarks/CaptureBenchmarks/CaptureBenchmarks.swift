// swift package --disable-sandbox benchmark --target CaptureBenchmarks
//
// Allocation gates for the capture module: the write path (`PcapWriter.writeUDP`,
// Ethernet + IPv4 and + IPv6 headers synthesised, records buffered and written
// to /dev/null with write(2) each time the 1 MiB buffer fills), what `feedreactor
// record` does per datagram; and the read path (`DatagramReader.next` over a
// capture held in memory, looping), what `listen --pcap` does per datagram.

import Benchmark
import BenchmarkSupport
import Capture
#if canImport(Glibc)
import Glibc
#endif

let benchmarks: @Sendable () -> Void = {
    registerGate("Write.IPv4", timed: true) { try WriteRig(ipv6: false) } step: { $0.write() }
    registerGate("Write.IPv6", timed: true) { try WriteRig(ipv6: true) } step: { $0.write() }
    registerGate("Read", timed: true) { try ReadRig() } step: { $0.read() }
    registerCanary()
}

/// A writer on /dev/null and a 64-byte payload; warmed past several buffer flushes.
final class WriteRig {
    let writer: PcapWriter
    let payload: UnsafeMutableRawBufferPointer
    let source: PcapWriter.Endpoint
    let destination: PcapWriter.Endpoint
    var timestamp: UInt64 = 1_764_579_000_000_000_000

    init(ipv6: Bool) throws {
        writer = try PcapWriter(path: "/dev/null")
        payload = .allocate(byteCount: 64, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 0x5A)
        var sourceBytes: [UInt8] = ipv6 ? [0xFD] + Array(repeating: 0, count: 14) + [1] : [10, 0, 0, 1]
        var groupBytes: [UInt8] = ipv6 ? [0xFF, 0x3E] + Array(repeating: 0, count: 13) + [1] : [239, 1, 1, 1]
        source = .init(CapturedAddress(isIPv6: ipv6, bytes: &sourceBytes), port: 30_000)
        destination = .init(CapturedAddress(isIPv6: ipv6, bytes: &groupBytes), port: 41_000)
        for _ in 0..<100_000 { write() }
    }

    deinit { payload.deallocate() }

    @inline(__always)
    func write() {
        timestamp &+= 1_000
        do {
            try writer.writeUDP(UnsafeRawBufferPointer(payload), timestamp: timestamp, source: source, destination: destination)
        } catch {
            fatalError("WriteRig: \(error)")
        }
    }
}

/// 10,000 datagrams written to a file, mapped, read round and round.
final class ReadRig {
    let file: CaptureFile
    let reader: DatagramReader
    var bytes: UInt64 = 0

    init() throws {
        let path = "/tmp/capture-benchmark-\(getpid()).pcap"
        let writer = try PcapWriter(path: path)
        let payload = [UInt8](repeating: 7, count: 200)
        var address: [UInt8] = [239, 1, 1, 1]
        let group = CapturedAddress(isIPv6: false, bytes: &address)
        for index in 0..<10_000 {
            try payload.withUnsafeBytes {
                try writer.writeUDP($0, timestamp: UInt64(index), source: .init(group, port: 1), destination: .init(group, port: 2))
            }
        }
        try writer.close()
        file = try CaptureFile(path: path)
        unlink(path)
        reader = try DatagramReader(file.bytes)
        for _ in 0..<20_000 { read() }
    }

    @inline(__always)
    func read() {
        do {
            if let datagram = try reader.next() {
                bytes &+= UInt64(datagram.payload.count)
                return
            }
            // The end: start over (no allocation either).
            try reader.rewind()
        } catch {
            fatalError("ReadRig: \(error)")
        }
    }
}
