import CFeedReactor

/// One received datagram: a view into the socket's receive slab (epoll) or a
/// provided buffer (io_uring). Valid only during the handler callback that
/// received it; copy what you keep.
public struct Datagram {
    @usableFromInline let raw: UnsafePointer<fr_datagram>

    @inlinable init(_ raw: UnsafePointer<fr_datagram>) { self.raw = raw }

    /// The payload bytes (at most the slot size; see `isTruncated`).
    @inlinable public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: raw.pointee.data, count: Int(raw.pointee.length))
    }

    /// The payload's length in bytes (`bytes.count`).
    @inlinable public var count: Int { Int(raw.pointee.length) }

    /// The datagram was longer than the receive slot and was cut; treat it as malformed.
    @inlinable public var isTruncated: Bool { raw.pointee.flags & FR_DGRAM_TRUNCATED != 0 }

    /// Ancillary data did not fit the control buffer.
    @inlinable public var isControlTruncated: Bool { raw.pointee.flags & FR_DGRAM_CONTROL_TRUNCATED != 0 }

    /// The source sockaddr (sockaddr_in / sockaddr_in6), without copying.
    @inlinable public var sourceAddress: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: raw.pointee.name, count: Int(raw.pointee.name_length))
    }

    /// The ancillary data (cmsg chain) when the registration asked for control space.
    @inlinable public var control: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: raw.pointee.control, count: Int(raw.pointee.control_length))
    }

    /// True when the datagram came from `address` (one compare, no allocation).
    @inlinable public func isFrom(_ address: SocketAddress) -> Bool {
        guard let name = raw.pointee.name, raw.pointee.name_length > 0 else { return false }
        return address.matches(name)
    }

    /// Copies the source address into a value (no heap allocation).
    public var source: SocketAddress? {
        SocketAddress(raw: raw.pointee.name, length: Int(raw.pointee.name_length))
    }
}

/// The datagrams one read produced, in arrival order. Valid only during the
/// callback; iterate it, or index it.
///
/// ```swift
/// func receive(_ batch: DatagramBatch, reactor: Reactor) {
///     for datagram in batch { total += datagram.count }
/// }
/// ```
public struct DatagramBatch: RandomAccessCollection {
    @usableFromInline let base: UnsafePointer<fr_datagram>
    /// How many datagrams the read produced (at most the registration's `ReceiveOptions.slotCount`).
    public let count: Int
    /// The registration the batch was read from.
    public let token: Token

    /// A batch over `count` datagram descriptors at `base`, read from the registration
    /// `token`. Backends create batches; a handler only receives them. The descriptors
    /// must stay valid while the batch is used.
    @inlinable public init(base: UnsafePointer<fr_datagram>, count: Int, token: Token) {
        self.base = base
        self.count = count
        self.token = token
    }

    /// Always 0.
    @inlinable public var startIndex: Int { 0 }
    /// The same as `count`.
    @inlinable public var endIndex: Int { count }

    /// The datagram at `position` (0 is the oldest). Traps when out of range. The
    /// datagram is a view into receive memory: valid only during this callback.
    @inlinable public subscript(position: Int) -> Datagram {
        precondition(position >= 0 && position < count, "datagram index out of range")
        return Datagram(base + position)
    }
}
