/// Names one registration in a `Reactor`: a slot index and the generation the
/// slot had when the registration was made. An event or a call that carries an
/// older generation refers to a registration that is gone, and is dropped by one
/// compare.
public struct Token: Hashable, Sendable, CustomStringConvertible {
    /// The registration's index in the reactor's table.
    public let slot: UInt32
    /// The slot's generation when the registration was made.
    public let generation: UInt32

    /// A token for `slot` at `generation`. Reactors make tokens; tests and backends
    /// rebuild them.
    public init(slot: UInt32, generation: UInt32) {
        self.slot = slot
        self.generation = generation
    }

    /// The 64-bit word stored in an epoll event or io_uring user_data.
    @inlinable public var raw: UInt64 { UInt64(generation) << 32 | UInt64(slot) }

    /// The token stored in `raw` (generation in the high 32 bits, slot in the low 32).
    @inlinable public init(raw: UInt64) {
        self.slot = UInt32(truncatingIfNeeded: raw)
        self.generation = UInt32(truncatingIfNeeded: raw >> 32)
    }

    /// `Token(slot#generation)`.
    public var description: String { "Token(\(slot)#\(generation))" }
}
