/// Connections made ahead of time: state and buffers for `capacity` TCP
/// connections in one allocation, so that accepting (or connecting) after
/// warm-up allocates nothing. Pass it in `TCPListenerOptions.pool` (or to
/// `Reactor.connect`). Belongs to one reactor thread.
///
/// ```swift
/// let pool = TCPConnectionPool(capacity: 10_000, receiveCapacity: 4096, sendCapacity: 4096)
/// try reactor.listen(listener, options: TCPListenerOptions(pool: pool), handler: server)
/// ```
///
/// When every pooled connection is in use, further connections get buffers of
/// their own (counted in `misses`); bound them with `maxConnections`.
public final class TCPConnectionPool: @unchecked Sendable {
    /// Connections whose buffers the pool holds, allocated at `init`.
    public let capacity: Int
    /// Bytes of each pooled connection's receive ring.
    public let receiveCapacity: Int
    /// Bytes of each pooled connection's send ring.
    public let sendCapacity: Int
    /// Connections that found the pool empty and allocated their own buffers.
    public private(set) var misses: UInt64 = 0

    let memory: UnsafeMutableRawPointer
    var free: ContiguousArray<TCPConnection>

    /// A pool of `capacity` connections with receive and send rings of the given sizes
    /// in bytes, allocated here in one block. Use it from one reactor's thread.
    public init(capacity: Int, receiveCapacity: Int = 64 * 1024, sendCapacity: Int = 64 * 1024) {
        precondition(capacity > 0 && receiveCapacity > 0 && sendCapacity > 0, "TCPConnectionPool sizes must be positive")
        self.capacity = capacity
        self.receiveCapacity = receiveCapacity
        self.sendCapacity = sendCapacity
        // Cache-line aligned rings: the kernel's copies run fastest on aligned memory.
        let stride = Self.align(receiveCapacity) + Self.align(sendCapacity)
        // One reservation; pages are touched (and become resident) only as
        // connections use them.
        memory = .allocate(byteCount: capacity * stride, alignment: 4096)
        free = []
        free.reserveCapacity(capacity)
        for i in (0..<capacity).reversed() {
            // Safety: slot i's rings lie inside [i*stride, (i+1)*stride) of the reservation.
            let base = memory + i * stride
            free.append(TCPConnection(receive: ByteRing(storage: base, capacity: receiveCapacity),
                                      send: ByteRing(storage: base + Self.align(receiveCapacity), capacity: sendCapacity),
                                      pooled: true))
        }
    }

    deinit { memory.deallocate() }

    /// Connections not in use.
    public var available: Int { free.count }

    static func align(_ n: Int) -> Int { (n + 63) & ~63 }

    func take() -> TCPConnection? {
        guard let connection = free.popLast() else {
            misses &+= 1
            return nil
        }
        // In use, a connection keeps its pool (whose memory its rings are) alive;
        // in the free list it does not (no reference cycle).
        connection.pool = self
        return connection
    }

    func give(_ connection: TCPConnection) {
        connection.pool = nil
        free.append(connection)
    }
}
