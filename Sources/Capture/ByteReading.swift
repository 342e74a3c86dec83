/// Bounds-checked integer loads from capture bytes. Callers check lengths
/// first; these only do the load and the byte swap.
extension UnsafeRawBufferPointer {
    /// A big-endian (network order) UInt16 at `offset`; the caller checked `offset + 2 <= count`.
    @inlinable func networkUInt16(at offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable func networkUInt32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// A file-order UInt16: `swapped` when the file's byte order is not the host's.
    @inlinable func fileUInt16(at offset: Int, swapped: Bool) -> UInt16 {
        let value = loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        return swapped ? value.byteSwapped : value
    }

    @inlinable func fileUInt32(at offset: Int, swapped: Bool) -> UInt32 {
        let value = loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return swapped ? value.byteSwapped : value
    }

    /// The bytes `start..<start+count`; the caller checked the range.
    @inlinable func slice(_ start: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[start..<(start + count)])
    }
}
