import Reactor

/// Hands the bytes of a TCP receive ring (`ByteSpans`: one or two pieces when
/// the ring wraps) to a SoupBinTCP connection's `receive`, which wants
/// contiguous memory. A packet that straddles the wrap is stitched into a
/// scratch buffer of `maxFrameLength + 2` bytes allocated once, so nothing
/// allocates per read and a frame split one byte per read is still seen whole
/// (the ring keeps unconsumed bytes and offers them again).
struct SoupSpanReader {
    let scratch: UnsafeMutableRawBufferPointer

    init(maxFrameLength: Int) {
        scratch = .allocate(byteCount: maxFrameLength + SoupPacket.lengthFieldSize, alignment: 8)
    }

    func deallocate() { scratch.deallocate() }

    /// Offers `spans` to `receive` in order; returns the bytes consumed in all and
    /// the last status (the first that was not `.open` stops it).
    func read(_ spans: ByteSpans,
              _ receive: (UnsafeRawBufferPointer) -> (consumed: Int, status: SoupConnectionStatus))
        -> (consumed: Int, status: SoupConnectionStatus) {
        let first = spans.first
        let second = spans.second
        var (consumed, status) = receive(first)
        guard status == .open, !second.isEmpty else { return (consumed, status) }
        var secondOffset = 0
        if consumed < first.count {
            // A packet starts near the end of the first piece and goes on in the
            // second: copy its bytes (at most one frame) together.
            let tail = first.count - consumed
            let head = min(second.count, scratch.count - tail)
            // Safety: tail + head <= scratch.count; both sources lie inside the spans.
            scratch.baseAddress!.copyMemory(from: first.baseAddress! + consumed, byteCount: tail)
            (scratch.baseAddress! + tail).copyMemory(from: second.baseAddress!, byteCount: head)
            let stitched = receive(UnsafeRawBufferPointer(rebasing: scratch[0..<(tail + head)]))
            status = stitched.status
            guard stitched.consumed >= tail else {
                // Still not a whole packet (the rest has not arrived): wait for more.
                return (consumed + stitched.consumed, status)
            }
            consumed += stitched.consumed
            secondOffset = stitched.consumed - tail
            guard status == .open else { return (consumed, status) }
        }
        let rest = receive(UnsafeRawBufferPointer(rebasing: second[secondOffset...]))
        return (consumed + rest.consumed, rest.status)
    }
}
