import Capture

/// The capture fuzz target's body (Fuzz/CaptureFuzz.swift), shared with the
/// regression tests: the input is read as a whole capture file, then its tail
/// (after the first byte) as one frame of the link type the first byte picks,
/// through a reassembler small enough that eviction and timeouts happen.
/// Invariants (a violation traps): every payload lies inside the input or the
/// reassembler's buffer and within the UDP limit; counters never exceed the
/// frames read. AddressSanitizer catches any read past the input.
func runCaptureFuzzProgram(_ input: UnsafeRawBufferPointer) {
    let table = FragmentReassembler.Configuration(capacity: 3, timeout: 1_000_000)
    if let reader = try? DatagramReader(input, reassembly: table) {
        var produced: UInt64 = 0
        while true {
            guard let datagram = try? reader.next() else { break }
            produced += 1
            checkFuzzedDatagram(datagram, input: input, reassembler: reader.reassembler)
        }
        let counters = reader.counters
        precondition(counters.datagrams == produced, "capture fuzz: datagram count disagrees")
        precondition(counters.notIP + counters.notUDP + counters.cut + counters.malformed + counters.unsupportedLinkType
                     <= counters.frames, "capture fuzz: more skips than frames")
    }
    guard let first = input.first else { return }
    let linkTypes: [LinkType] = [.ethernet, .raw, .linuxSLL, .ipv4, .ipv6, .linuxSLL2, LinkType(rawValue: 0)]
    let frame = UnsafeRawBufferPointer(rebasing: input[1...])
    let reassembler = FragmentReassembler(table)
    var counters = DecodeCounters()
    // The same frame twice: as itself and as a fragment's second arrival.
    for round in 0..<2 {
        let record = CaptureRecord(timestamp: UInt64(first) &* 1000 &* UInt64(round + 1),
                                   linkType: linkTypes[Int(first) % linkTypes.count], bytes: frame,
                                   originalLength: frame.count + Int(first >> 6))
        if case .datagram(let datagram) = FrameDecoder.decode(record, reassembler: reassembler, counters: &counters) {
            checkFuzzedDatagram(datagram, input: input, reassembler: reassembler)
        }
    }
}

func checkFuzzedDatagram(_ datagram: CapturedDatagram, input: UnsafeRawBufferPointer, reassembler: FragmentReassembler) {
    let payload = datagram.payload
    precondition(payload.count <= 65_527, "capture fuzz: payload longer than UDP allows")
    guard let start = payload.baseAddress, let base = input.baseAddress else { return }
    let insideInput = start >= base && start + payload.count <= base + input.count
    precondition(insideInput || payload.count <= FragmentReassembler.maximumPayload, "capture fuzz: payload outside the input")
    // Touch every byte so AddressSanitizer sees any bad view.
    var sum: UInt8 = 0
    for byte in payload { sum &+= byte }
    _ = sum
}
