import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif

/// Datagrams queued for one sendmmsg: a preallocated set of slots, each with
/// its own destination. Append, then `flush` on a socket; nothing allocates
/// after `init`.
///
/// ```swift
/// let batch = SendBatch(capacity: 32, slotSize: 1500)
/// batch.append(packetBytes, to: group)
/// let sent = try batch.flush(on: socket)
/// ```
public final class SendBatch {
    /// Datagram slots in the batch, fixed at `init`.
    public let capacity: Int
    /// Bytes per slot: the largest datagram the batch takes.
    public let slotSize: Int
    /// Datagrams queued and not yet sent.
    public var count: Int { queued }
    // Internal storage, not `public private(set)`: whole-module optimization can
    // then drop the dynamic exclusivity check from every append's access.
    var queued = 0
    let messages: UnsafeMutablePointer<fr_mmsghdr>
    let iovecs: UnsafeMutablePointer<iovec>
    let names: UnsafeMutablePointer<sockaddr_storage>
    let buffers: UnsafeMutableRawPointer

    /// A batch of `capacity` slots of `slotSize` bytes; all memory (message headers,
    /// iovecs, addresses, payload) is allocated here, once.
    public init(capacity: Int, slotSize: Int = 2048) {
        precondition(capacity > 0 && slotSize > 0)
        self.capacity = capacity
        self.slotSize = slotSize
        messages = .allocate(capacity: capacity)
        iovecs = .allocate(capacity: capacity)
        names = .allocate(capacity: capacity)
        buffers = .allocate(byteCount: capacity * slotSize, alignment: 64)
        fr_batch_prepare(messages, iovecs, buffers.assumingMemoryBound(to: UInt8.self), slotSize, names, nil, 0, UInt32(capacity))
    }

    deinit {
        messages.deallocate(); iovecs.deallocate(); names.deallocate(); buffers.deallocate()
    }

    /// True when every slot is taken: flush before appending more.
    public var isFull: Bool { queued == capacity }

    /// Copies `bytes` into the next slot, addressed to `destination` (nil: the
    /// socket's connected peer). Returns false when the batch is full or the
    /// datagram is larger than a slot.
    @discardableResult
    public func append(_ bytes: UnsafeRawBufferPointer, to destination: SocketAddress?) -> Bool {
        guard queued < capacity, bytes.count <= slotSize else { return false }
        let slot = buffers + queued * slotSize
        // Safety: the slot holds slotSize bytes and bytes.count <= slotSize.
        if let base = bytes.baseAddress { slot.copyMemory(from: base, byteCount: bytes.count) }
        queue(length: bytes.count, to: destination)
        return true
    }

    /// Copies `bytes` into the next slot, addressed to a raw sockaddr of
    /// `length` bytes (nil: the connected peer). False when full or too large.
    @discardableResult
    public func append(_ bytes: UnsafeRawBufferPointer, toRaw address: UnsafeRawPointer?, length: Int) -> Bool {
        guard queued < capacity, bytes.count <= slotSize, length <= MemoryLayout<sockaddr_storage>.size else { return false }
        // Safety: the slot holds slotSize bytes and bytes.count <= slotSize.
        if let base = bytes.baseAddress { (buffers + queued * slotSize).copyMemory(from: base, byteCount: bytes.count) }
        iovecs[queued].iov_len = bytes.count
        setName(queued, address, length)
        queued += 1
        return true
    }

    /// Copies datagram `index` of another batch into the next slot (a send
    /// queue taking what a sendmmsg left). False when full or too large.
    @discardableResult
    func append(from other: SendBatch, index: Int) -> Bool {
        let header = other.messages[index].msg_hdr
        let bytes = UnsafeRawBufferPointer(start: other.buffers + index * other.slotSize, count: other.iovecs[index].iov_len)
        return append(bytes, toRaw: header.msg_name.map { UnsafeRawPointer($0) }, length: Int(header.msg_namelen))
    }

    /// The bytes of datagram `index` (tests and copies).
    func bytes(at index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffers + index * slotSize, count: iovecs[index].iov_len)
    }

    @inline(__always)
    func setName(_ index: Int, _ address: UnsafeRawPointer?, _ length: Int) {
        if let address, length > 0 {
            // Safety: names[index] is a sockaddr_storage and length <= its size.
            UnsafeMutableRawPointer(names + index).copyMemory(from: address, byteCount: length)
            messages[index].msg_hdr.msg_name = UnsafeMutableRawPointer(names + index)
            messages[index].msg_hdr.msg_namelen = socklen_t(length)
        } else {
            messages[index].msg_hdr.msg_name = nil
            messages[index].msg_hdr.msg_namelen = 0
        }
    }

    /// Forgets the first `n` datagrams (sent, or refused by the kernel), keeping
    /// the rest in order.
    func removeFirst(_ n: Int) {
        if n >= queued { queued = 0 } else if n > 0 { shift(by: n) }
    }

    /// Completes the next slot (already filled with `length` bytes).
    @inline(__always)
    func queue(length: Int, to destination: SocketAddress?) {
        iovecs[queued].iov_len = length
        if let destination {
            destination.withSockaddr { raw, length in
                UnsafeMutableRawPointer(names + queued).copyMemory(from: raw, byteCount: Int(length))
                messages[queued].msg_hdr.msg_name = UnsafeMutableRawPointer(names + queued)
                messages[queued].msg_hdr.msg_namelen = length
            }
        } else {
            messages[queued].msg_hdr.msg_name = nil
            messages[queued].msg_hdr.msg_namelen = 0
        }
        queued += 1
    }

    /// A slot to write a datagram into directly: fill up to `slotSize` bytes,
    /// then `commit(length:to:)`.
    public var nextSlot: UnsafeMutableRawBufferPointer? {
        queued < capacity ? UnsafeMutableRawBufferPointer(start: buffers + queued * slotSize, count: slotSize) : nil
    }

    /// Queues the next slot (from `nextSlot`) after you wrote `length` bytes into it,
    /// addressed to `destination` (nil: the connected peer). Returns false, queuing
    /// nothing, when the batch is full or `length` exceeds `slotSize`.
    @discardableResult
    public func commit(length: Int, to destination: SocketAddress?) -> Bool {
        guard queued < capacity, length <= slotSize else { return false }
        queue(length: length, to: destination)
        return true
    }

    /// Queues the next slot (from `nextSlot`) after you wrote `length` bytes into
    /// it, for the socket's connected peer: `commit(length:to: nil)` without the
    /// Optional address to copy (a connected sender's every datagram). False,
    /// queuing nothing, when the batch is full or `length` exceeds `slotSize`.
    @discardableResult
    public func commit(length: Int) -> Bool {
        guard queued < capacity, length <= slotSize else { return false }
        iovecs[queued].iov_len = length
        setName(queued, nil, 0)
        queued += 1
        return true
    }

    /// Sends what is queued with sendmmsg. Returns how many went out; the rest
    /// (send buffer full) stay queued, in order, for the next flush.
    @discardableResult
    public func flush(on socket: UDPSocket) throws(SystemError) -> Int {
        guard queued > 0 else { return 0 }
        switch try System.sendBatch(fd: socket.descriptor, messages: messages, count: queued) {
        case .wouldBlock:
            return 0
        case .processed(let sent):
            if sent < queued { shift(by: sent) } else { queued = 0 }
            return sent
        }
    }

    /// Drops every queued datagram without sending it.
    public func removeAll() { queued = 0 }

    /// Moves unsent datagrams to the front after a partial send.
    func shift(by sent: Int) {
        for i in 0..<(queued - sent) {
            let from = i + sent
            (buffers + i * slotSize).copyMemory(from: buffers + from * slotSize, byteCount: iovecs[from].iov_len)
            iovecs[i].iov_len = iovecs[from].iov_len
            names[i] = names[from]
            messages[i].msg_hdr.msg_name = messages[from].msg_hdr.msg_name == nil ? nil : UnsafeMutableRawPointer(names + i)
            messages[i].msg_hdr.msg_namelen = messages[from].msg_hdr.msg_namelen
        }
        queued -= sent
    }
}

extension Reactor {
    /// Pins the calling thread (the reactor's) to one CPU: sched_setaffinity.
    public static func pinCurrentThread(toCPU cpu: Int) throws(ReactorError) {
        do { try System.pinCurrentThread(toCPU: cpu) } catch { throw .system(error) }
    }
}
