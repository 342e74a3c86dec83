#if canImport(Glibc)
import Glibc
#endif

/// Sends through a registered datagram socket's backend (see `SendOptions`):
/// never blocking, never growing, each outcome typed and counted.
///
/// ```swift
/// switch reactor.send(token, packet, to: peer) {
/// case .sent, .queued: break
/// case .refused(let why): dropped += 1   // .queueFull: wait for writable
/// }
/// ```
extension Reactor {
    /// Sends one datagram to the connected peer of `token`'s socket.
    @discardableResult
    public func send(_ token: Token, _ bytes: UnsafeRawBufferPointer) -> SendResult {
        // Its own entry point, not `to: nil`: testing an Optional<SocketAddress>
        // copies its 133 bytes first (twice per packet through UDPPacketSink).
        guard isLive(token) else { return count(.refused(.notRegistered)) }
        return count(backend.send(token, bytes, to: nil, length: 0, reactor: self))
    }

    /// Sends one datagram to `address` (nil: the connected peer).
    @discardableResult
    public func send(_ token: Token, _ bytes: UnsafeRawBufferPointer, to address: SocketAddress?) -> SendResult {
        guard let address else { return send(token, bytes) }
        guard isLive(token) else { return count(.refused(.notRegistered)) }
        return address.withSockaddr { raw, length in
            count(backend.send(token, bytes, to: raw, length: Int(length), reactor: self))
        }
    }

    /// Sends one datagram to a raw sockaddr of `length` bytes, such as a received
    /// datagram's `sourceAddress` (answering without copying the address).
    @discardableResult
    public func send(_ token: Token, _ bytes: UnsafeRawBufferPointer, toRaw address: UnsafeRawPointer,
                     length: Int) -> SendResult {
        guard isLive(token) else { return count(.refused(.notRegistered)) }
        return count(backend.send(token, bytes, to: address, length: length, reactor: self))
    }

    /// Sends every datagram of `batch` (epoll: sendmmsg), queueing what the
    /// kernel will not take now. The batch is empty afterwards.
    @discardableResult
    public func send(_ token: Token, batch: SendBatch) -> SendBatchResult {
        guard let registration = registration(for: token) else {
            var result = SendBatchResult()
            result.refused = batch.count
            batch.removeAll()
            tally.sendsRefused &+= UInt64(result.refused)
            return result
        }
        let result = backend.send(registration, batch: batch, reactor: self)
        tally.sendsDirect &+= UInt64(result.sent)
        tally.sendsQueued &+= UInt64(result.queued)
        tally.sendsRefused &+= UInt64(result.refused)
        return result
    }

    /// Submits what sends prepared outside a duty cycle (io_uring SQEs; epoll:
    /// datagrams gathered by sockets with `SendOptions.coalesce`) now, rather
    /// than at the next `poll`/`runOnce`. Sends made from callbacks are
    /// submitted at the end of their cycle anyway.
    public func flushSends() {
        if !closed { backend.submit(reactor: self) }
    }

    /// Datagrams of `token` taken by `send` but not yet handed to the kernel
    /// (epoll: queued) or not yet completed (io_uring). 0 for a stale token.
    public func pendingSends(for token: Token) -> Int {
        guard let registration = registration(for: token) else { return 0 }
        return backend.pendingSends(registration)
    }

    @inline(__always)
    func count(_ result: SendResult) -> SendResult {
        switch result {
        case .sent: tally.sendsDirect &+= 1
        case .queued: tally.sendsQueued &+= 1
        case .refused: tally.sendsRefused &+= 1
        }
        return result
    }
}
