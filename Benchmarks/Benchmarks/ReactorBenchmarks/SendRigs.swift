import BenchmarkSupport
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// Hears `writable` (the queued path ends with one per round).
final class WritableCounter: DatagramHandler {
    var writable = 0
    var errors = 0
    func receive(_ batch: DatagramBatch, reactor: Reactor) {}
    func writable(token: Token, reactor: Reactor) { writable += 1 }
    func failed(_ error: any Error, token: Token, reactor: Reactor) { errors += 1 }
}

/// Sends through `Reactor.send` on a registered socket. `direct`: a loopback
/// UDP socket nobody reads (loopback never pushes back, so every send is
/// handed over at once). `queued`: one end of an AF_UNIX datagram socketpair
/// whose other end is read only after a burst. The sender's SO_SNDBUF is set
/// to the kernel's minimum, so the kernel says EAGAIN after a few datagrams
/// (net.unix.max_dgram_qlen does not apply: a socketpair's ends are each
/// other's peers) and the rest take the queue (epoll: the
/// per-socket queue and EPOLLOUT, ending with `writable`; io_uring: the
/// send-buffer pool holds each datagram until the kernel, which polls the
/// socket itself, completes it).
final class SendRig {
    let reactor: Reactor
    let handler = WritableCounter()
    let token: Token
    let destination: SocketAddress?
    let target: UDPSocket?
    let peer: Int32
    let payload: UnsafeMutableRawBufferPointer
    let scratch: UnsafeMutableRawBufferPointer
    let batch: SendBatch
    var sequence: UInt64 = 0

    init(backend: BackendKind, queued: Bool) throws {
        reactor = try Reactor(backend: backend)
        payload = .allocate(byteCount: 64, alignment: 8)
        payload.initializeMemory(as: UInt8.self, repeating: 0x5A)
        scratch = .allocate(byteCount: 2048, alignment: 8)
        batch = SendBatch(capacity: 32, slotSize: 64)
        let socket: UDPSocket
        if queued {
            var fds: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                             | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
                fatalError("SendRig: socketpair failed: errno \(errno)")
            }
            var smallest: Int32 = 1
            guard setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &smallest, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                fatalError("SendRig: SO_SNDBUF failed: errno \(errno)")
            }
            socket = try UDPSocket(adopting: fds[0])
            peer = fds[1]
            destination = nil
            target = nil
        } else {
            let receiver = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
            destination = try receiver.localAddress()
            target = receiver
            socket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
            peer = -1
        }
        token = try reactor.register(socket, send: SendOptions(queueCapacity: 64, slotSize: 64), handler: handler)
        for _ in 0..<500 { queued ? burst(32) : sendOne() }
        for _ in 0..<200 { sendBatch() }
    }

    deinit {
        target?.close()
        if peer >= 0 { close(peer) }
        reactor.close()
        payload.deallocate()
        scratch.deallocate()
    }

    @inline(__always)
    func next() -> UnsafeRawBufferPointer {
        payload.storeBytes(of: sequence.littleEndian, as: UInt64.self)
        sequence &+= 1
        return UnsafeRawBufferPointer(payload)
    }

    /// One `send`, then a duty cycle (io_uring submits and reaps there).
    @inline(__always)
    func sendOne() {
        guard case .sent = reactor.send(token, next(), to: destination) else { fatalError("SendRig: send not taken") }
        do { try reactor.poll() } catch { fatalError("SendRig: poll failed: \(error)") }
    }

    /// 32 datagrams in one `send(batch:)` (epoll: one sendmmsg), then a duty cycle.
    @inline(__always)
    func sendBatch() {
        if peer >= 0 { return burst(32) }
        for _ in 0..<32 { batch.append(next(), to: destination) }
        let result = reactor.send(token, batch: batch)
        guard result.sent == 32 else { fatalError("SendRig: batch not taken: \(result)") }
        do { try reactor.poll() } catch { fatalError("SendRig: poll failed: \(error)") }
    }

    /// `count` sends into a socket that takes a few, then reading the peer and
    /// running duty cycles until every datagram arrived and `writable` came.
    @inline(__always)
    func burst(_ count: Int) {
        let writable = handler.writable
        let queuedBefore = reactor.counters.sendsQueued
        for _ in 0..<count {
            switch reactor.send(token, next(), to: nil) {
            case .sent, .queued: break
            case .refused(let why): fatalError("SendRig: refused: \(why)")
            }
        }
        var received = 0
        var cycles = 0
        // epoll queues what the kernel refused and says `writable` once it is
        // flushed; io_uring hands every send to the kernel, which waits for
        // room itself (no EAGAIN reaches the reactor), so nothing is queued.
        while received < count || reactor.pendingSends(for: token) > 0
                || (reactor.counters.sendsQueued > queuedBefore && handler.writable == writable) {
            while recv(peer, scratch.baseAddress, scratch.count, Int32(MSG_DONTWAIT)) > 0 { received += 1 }
            do { try reactor.poll() } catch { fatalError("SendRig: poll failed: \(error)") }
            cycles += 1
            if cycles >= 1_000_000 { fatalError("SendRig: queued sends never drained: received \(received) of \(count), writable \(handler.writable - writable), pending \(reactor.pendingSends(for: token)), errors \(handler.errors), counters \(reactor.counters)") }
        }
    }
}
