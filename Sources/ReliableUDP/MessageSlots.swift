/// `count` fixed-size message slots in one allocation, made in `init`: the send
/// buffer, the unreliable queue and the receive reorder buffer all use it, so
/// no message path allocates.
final class MessageSlots {
    let count: Int
    let slotSize: Int
    let bytes: UnsafeMutableRawPointer
    let lengths: UnsafeMutablePointer<Int32>

    init(count: Int, slotSize: Int) {
        self.count = count
        self.slotSize = slotSize
        bytes = .allocate(byteCount: max(1, count * slotSize), alignment: 16)
        lengths = .allocate(filledWith: 0, count: count)
    }

    deinit {
        bytes.deallocate()
        lengths.deallocate()
    }

    @inline(__always)
    func store(_ index: Int, _ source: UnsafeRawBufferPointer) {
        // Safety: the caller checked source.count <= slotSize and index < count.
        if let base = source.baseAddress, source.count > 0 {
            (bytes + index * slotSize).copyMemory(from: base, byteCount: source.count)
        }
        lengths[index] = Int32(source.count)
    }

    @inline(__always)
    func view(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes + index * slotSize, count: Int(lengths[index]))
    }
}
