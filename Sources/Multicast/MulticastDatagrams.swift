import Reactor

/// One datagram of a multicast subscription, copied out of the receive slab.
public struct ReceivedDatagram: Sendable {
    /// The payload, copied: it stays valid after the callback that received it.
    public let bytes: [UInt8]
    /// Where it came from, when the receiver collects source addresses.
    public let source: SocketAddress?
    /// Which of the receiver's subscriptions it belongs to (pktinfo), when known.
    public let subscriptionIndex: Int?
}

extension MulticastReceiver {
    /// Registers the socket with `reactor` and returns its datagrams as an
    /// AsyncSequence. Call on the reactor's thread; iterate from any task.
    ///
    /// ```swift
    /// let datagrams = try receiver.datagrams(on: reactor)
    /// Task { for await datagram in datagrams { print(datagram.bytes.count) } }
    /// ```
    ///
    /// Each element is a copy (views are valid only during a handler's callback).
    /// Each receive batch is handed over at once (one lock per batch). At
    /// `highWatermark` unconsumed datagrams the socket stops being read (the kernel
    /// queues, then drops); at `lowWatermark` reading resumes. Cancelling the
    /// consuming task ends the sequence and deregisters (and closes) the socket.
    public func datagrams(on reactor: Reactor, options: ReceiveOptions = ReceiveOptions(), highWatermark: Int = 65_536,
                          lowWatermark: Int = 16_384) throws(ReactorError) -> BatchedSequence<ReceivedDatagram> {
        let handoff = BatchedHandoff<ReceivedDatagram>(reactor: reactor, highWatermark: highWatermark,
                                                       lowWatermark: lowWatermark, batchSize: max(64, options.slotCount))
        let handler = DatagramStreamHandler(receiver: self, handoff: handoff)
        handler.token = try register(with: reactor, options: options, handler: handler)
        handoff.onBackpressure(
            pause: { reactor in
                if let token = handler.token { handler.paused = reactor.pauseReading(token); handler.token = nil }
            },
            resume: { reactor in
                guard let paused = handler.paused else { return }
                handler.paused = nil
                handler.token = try? reactor.resumeReading(paused)
                if handler.token == nil { paused.close() }
            },
            cancelled: { reactor in
                if let token = handler.token { reactor.deregister(token) }
                handler.paused?.close()
                handler.token = nil
                handler.paused = nil
            })
        return BatchedSequence(handoff)
    }
}

/// Copies each datagram of a batch and hands the batch over.
final class DatagramStreamHandler: DatagramHandler {
    let receiver: MulticastReceiver
    let handoff: BatchedHandoff<ReceivedDatagram>
    var token: Token?
    var paused: PausedRegistration?

    init(receiver: MulticastReceiver, handoff: BatchedHandoff<ReceivedDatagram>) {
        self.receiver = receiver
        self.handoff = handoff
    }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        for datagram in batch {
            handoff.append(ReceivedDatagram(bytes: Array(datagram.bytes), source: datagram.source,
                                            subscriptionIndex: receiver.subscriptionIndex(of: datagram)))
        }
        handoff.flush()
    }
}
