import Testing

/// Inputs for the capture fuzz program (scripts/fuzz.sh capture): the script's
/// seeds and edge cases the fuzzer reaches. A crashing input found by the
/// fuzzer goes here as inline bytes. (240 s, 411,531 runs on 2026-12-01: none.)
struct CaptureFuzzRegressionTests {
    typealias F = FrameBuilder

    static var inputs: [[UInt8]] {
        let frame = F.ethernet(etherType: 0x0800, F.ipv4Packet(moreFragments: true, body: F.udp(source: 5000, destination: 41000, payload: Array("abcd".utf8))))
        let pcap = F.pcap(records: [(1, 2, frame, nil)])
        let pcapng = F.sectionHeader(big: false) + F.interface(tsresol: 9, big: false) + F.enhancedPacket(timestamp: 1 << 32 | 2, bytes: frame, big: false)
        return [
            [], [0], Array(pcap.prefix(24)), pcap, pcapng, Array(pcapng.dropLast(1)),
            // A fragment at the largest offset, twice (the program feeds each frame twice).
            [1] + F.ipv4Packet(offset: 65_528, body: Array(repeating: 1, count: 7)),
            // if_tsresol of 2^-63 and of 10^-19 (the largest each form allows).
            F.sectionHeader(big: true) + F.interface(tsresol: 0xBF, big: true) + F.enhancedPacket(timestamp: .max, bytes: frame, big: true),
            F.sectionHeader(big: false) + F.interface(tsresol: 19, big: false) + F.enhancedPacket(timestamp: .max, bytes: frame, big: false),
            // Link types picked by the first byte over an IPv6 packet with a hop-by-hop header claiming 2 KiB.
            [5] + F.sll2(etherType: 0x86DD, F.ipv6Packet(nextHeader: 0, body: [17, 255, 0, 0, 0, 0, 0, 0])),
        ]
    }

    @Test(arguments: inputs) func programRunsCleanly(input: [UInt8]) {
        input.withUnsafeBytes { runCaptureFuzzProgram($0) }
    }
}
