import ReliableUDP

/// Hand-built datagrams for tests of bad input.
enum Crafted {
    static func be<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    static func header(type: UInt8 = 5, flags: UInt8 = 0, destination: UInt64, packetNumber: UInt64) -> [UInt8] {
        [1, type, flags, 0] + be(destination) + be(packetNumber)
    }

    static func data(_ tier: UInt8, sequence: UInt64, setOffset: UInt16 = 0, payload: [UInt8]) -> [UInt8] {
        [1, tier] + be(setOffset) + be(UInt16(payload.count)) + be(sequence) + payload
    }

    static func ack(largest: UInt64, firstRange: UInt32 = 0, limit: UInt64 = 1024,
                    ranges: [(gap: UInt32, length: UInt32)] = []) -> [UInt8] {
        var bytes: [UInt8] = [2] + be(UInt32(0)) + be(limit) + be(largest) + be(firstRange) + [UInt8(ranges.count)]
        for range in ranges { bytes += be(range.gap) + be(range.length) }
        return bytes
    }

    /// The delivery sequences in an (unprotected) data datagram.
    static func sequences(_ datagram: [UInt8], tier: Guarantee = .delivery) -> [UInt64] {
        datagram.withUnsafeBytes { raw in
            guard let packet = try? PacketView(raw), packet.type == .data else { return [] }
            var reader = packet.frames
            var found: [UInt64] = []
            while let frame = try? reader.next() {
                if case .data(let data) = frame, data.guarantee == tier { found.append(data.sequence) }
            }
            return found
        }
    }
}

extension Connection {
    /// Feeds an array datagram (tests).
    @discardableResult
    func receive(_ datagram: [UInt8], now: UInt64, deliver: (ReceivedMessage) -> Void = { _ in }) -> Bool {
        datagram.withUnsafeBytes { receive($0, now: now, deliver: deliver) }
    }

    /// Flushes into an array of datagrams (tests).
    func flushed(now: UInt64) -> [[UInt8]] {
        var out: [[UInt8]] = []
        flush(now: now) { out.append(Array($0)); return true }
        return out
    }
}
