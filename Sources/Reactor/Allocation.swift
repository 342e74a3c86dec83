extension UnsafeMutablePointer {
    /// `count` values allocated and each set to `value`: the fixed-size arrays
    /// the hot paths index, made once at setup.
    @inlinable
    package static func allocate(filledWith value: Pointee, count: Int) -> UnsafeMutablePointer<Pointee> {
        let pointer = allocate(capacity: count)
        pointer.initialize(repeating: value, count: count)
        return pointer
    }
}
