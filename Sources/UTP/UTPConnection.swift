import Reactor

/// One µTP connection (BEP 29): pure protocol state, no I/O of its own. Packets go
/// out through the endpoint's `UTPOutput`; time is the `now` passed in (ns).
///
/// Sequence space: `nextSequence` is the seq_nr the next DATA/FIN/SYN gets;
/// `peerAcked` is the peer's cumulative ack_nr, so the packets in flight are
/// `peerAcked + 1 ..< nextSequence`. `ackNumber` is the last seq_nr received in
/// order (our ack_nr). All of them wrap at 2^16 (`WrappingSequence`).
///
/// Buffers are allocated once, at creation: the send byte ring, the send slots,
/// the reorder slots and a scratch packet. Sending, receiving, acknowledging and
/// retransmitting allocate nothing.
///
/// ```swift
/// let connection = try endpoint.connect(to: peer, now: now)
/// connection.delegate = self
/// _ = connection.write(bytes, now: now)       // accepted count (backpressure)
/// connection.shutdown(now: now)                // FIN after the queued bytes
/// ```
public final class UTPConnection {
    /// Where the connection is in its life.
    public enum State: Sendable, Equatable {
        /// SYN sent, waiting for the acceptor's STATE.
        case synSent
        /// Data flows (both halves or one).
        case connected
        /// Both FINs exchanged and acknowledged; lingering to re-ACK a repeated FIN.
        case lingering
        /// Gone; the endpoint forgets it.
        case closed
    }

    struct OutgoingPacket {
        var type: PacketType = .data
        var offset: UInt64 = 0
        var length: Int = 0
        var sentAt: UInt64 = 0
        var transmissions: UInt32 = 0
        var acked = false
        var needsResend = false
        var inFlight = false
        var fastResent = false
        /// Pad the first transmission to this IP packet size (a path-MTU probe).
        var padTo = 0
    }

    /// Per-connection statistics (utp-cat's summary line reads these).
    public struct Statistics: Sendable {
        /// Payload bytes delivered to the delegate, in order.
        public var bytesReceived: UInt64 = 0
        /// Payload bytes sent for the first time.
        public var bytesSent: UInt64 = 0
        /// Packets sent (data, STATE acknowledgements, SYN, FIN, RESET, retransmissions).
        public var packetsSent: UInt64 = 0
        /// Packets sent again after a loss or timeout.
        public var retransmissions: UInt64 = 0
        /// Retransmissions triggered by duplicate or selective acknowledgements
        /// (`UTPConfiguration.duplicateAckThreshold`), before any timeout.
        public var fastRetransmissions: UInt64 = 0
        /// Retransmission timeouts that fired.
        public var timeouts: UInt64 = 0
        /// Duplicate acknowledgements received.
        public var duplicateAcks: UInt64 = 0
        /// Retransmissions sent with DF clear: larger than a path MTU learnt after
        /// their first transmission.
        public var fragmentableResends: UInt64 = 0
        /// Sum and count of queueing-delay samples (µs), for the mean.
        public var queueingDelaySum: UInt64 = 0
        /// Queueing-delay samples taken (the count behind the mean).
        public var queueingDelaySamples: UInt64 = 0
        /// The largest queueing delay sampled, in microseconds.
        public var maximumQueueingDelay: UInt32 = 0
        /// All statistics at zero.
        public init() {}
        /// The mean queueing delay over the samples, in microseconds (0 before any).
        public var meanQueueingDelayMicroseconds: Double {
            queueingDelaySamples == 0 ? 0 : Double(queueingDelaySum) / Double(queueingDelaySamples)
        }
    }

    /// Hears the connection's events (connected, data, end of stream, writable,
    /// closed) on the driving thread. Held weakly.
    public weak var delegate: (any UTPConnectionDelegate)?
    /// Anything the application wants to hang on the connection (a stream object).
    public var context: AnyObject?
    /// The peer's address and port.
    public let peer: SocketAddress
    /// The connection id the peer sends to (ours to receive on).
    public let receiveID: UInt16
    /// The connection id we send to (the peer's receive id).
    public let sendID: UInt16
    /// Where the connection is in its life.
    public private(set) var state: State
    /// Why the connection ended, when it did not end cleanly.
    public private(set) var error: UTPError?
    /// Bytes, packets, retransmissions and queueing delays so far.
    public private(set) var statistics = Statistics()
    /// The RTT estimate from acknowledged packets (RTO = smoothed + 4 × variation, at least 500 ms).
    public private(set) var rtt: RTTEstimator
    /// The LEDBAT congestion controller (RFC 6817).
    public private(set) var congestion: CongestionControl
    /// The peer's advertised receive window (wnd_size), bytes.
    public private(set) var peerWindow: Int
    /// Payload bytes in flight (sent, not acknowledged, not marked lost).
    public private(set) var bytesInFlight = 0
    /// The one-way delay history LEDBAT compares against its target.
    public private(set) var delays: DelayHistory
    /// Path MTU in use and the discovery state (`PathMTU`).
    public private(set) var pathMTU: PathMTU

    unowned let endpoint: UTPEndpoint
    let configuration: UTPConfiguration
    let isIPv6: Bool

    // Sending.
    var nextSequence: UInt16
    var peerAcked: UInt16
    let slotMask: Int
    var slots: [OutgoingPacket]
    let ring: UnsafeMutableRawBufferPointer
    let ringMask: UInt64
    var ringHead: UInt64 = 0
    var ringTail: UInt64 = 0
    var packetized: UInt64 = 0
    var resendPending = 0
    var duplicateAcks = 0
    var writeBlocked = false
    var finRequested = false
    var finSequence: UInt16?
    var finAcked = false
    var rtoDeadline: UInt64?
    var consecutiveTimeouts = 0
    var synAttempts = 0
    var lastSend: UInt64
    var zeroWindowProbeAt: UInt64?

    // Receiving.
    var ackNumber: UInt16 = 0
    var replyMicro: UInt32 = 0
    var ackPending = false
    var ackQueued = false
    let reorderMask: Int
    let reorder: UnsafeMutableRawPointer
    var reorderLength: [Int32]
    var reorderType: [UInt8]
    var reorderCount = 0
    var reorderBytes = 0
    var highestReordered: UInt16 = 0
    var eofSequence: UInt16?
    var eofDelivered = false
    var lingerUntil: UInt64 = 0

    let scratch: UnsafeMutableRawPointer
    static let scratchBytes = 65_536

    init(endpoint: UTPEndpoint, peer: SocketAddress, receiveID: UInt16, sendID: UInt16,
         initialSequence: UInt16, state: State, now: UInt64) {
        let configuration = endpoint.configuration
        precondition(configuration.sendSlots > 0 && configuration.sendSlots & (configuration.sendSlots - 1) == 0,
                     "UTPConfiguration.sendSlots must be a power of two")
        precondition(configuration.reorderSlots > 0 && configuration.reorderSlots & (configuration.reorderSlots - 1) == 0,
                     "UTPConfiguration.reorderSlots must be a power of two")
        self.endpoint = endpoint
        self.configuration = configuration
        self.peer = peer
        self.receiveID = receiveID
        self.sendID = sendID
        self.state = state
        isIPv6 = peer.isIPv6
        rtt = RTTEstimator(initial: configuration.synTimeout)
        var ceiling = configuration.mtu
        if configuration.routeMTU, let route = endpoint.output.pathMTU(to: peer), route > 0 {
            ceiling = min(ceiling, route)
        }
        pathMTU = PathMTU(floor: min(configuration.minimumMTU, ceiling), ceiling: ceiling, discovery: configuration.mtuDiscovery)
        congestion = CongestionControl(configuration: configuration,
                                       maximumWindow: configuration.sendSlots / 2 * UTPConfiguration.payloadSize(mtu: configuration.mtu, ipv6: peer.isIPv6))
        delays = DelayHistory(minutes: configuration.baseDelayMinutes)
        peerWindow = configuration.receiveWindow
        nextSequence = initialSequence
        peerAcked = initialSequence &- 1
        slotMask = configuration.sendSlots - 1
        slots = [OutgoingPacket](repeating: OutgoingPacket(), count: configuration.sendSlots)
        var ringSize = 4096
        while ringSize < configuration.sendBufferBytes { ringSize <<= 1 }
        ring = UnsafeMutableRawBufferPointer.allocate(byteCount: ringSize, alignment: 16)
        ringMask = UInt64(ringSize - 1)
        reorderMask = configuration.reorderSlots - 1
        reorder = UnsafeMutableRawPointer.allocate(byteCount: configuration.reorderSlots * configuration.reorderSlotBytes, alignment: 16)
        reorderLength = [Int32](repeating: -1, count: configuration.reorderSlots)
        reorderType = [UInt8](repeating: 0, count: configuration.reorderSlots)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: UTPConnection.scratchBytes, alignment: 16)
        lastSend = now
    }

    deinit {
        ring.deallocate()
        reorder.deallocate()
        scratch.deallocate()
    }

    // MARK: - Public API

    /// Bytes `write` would accept now.
    public var writableBytes: Int {
        guard !finRequested, state == .synSent || state == .connected else { return 0 }
        return ring.count - Int(ringTail - ringHead)
    }

    /// Bytes queued and not yet acknowledged.
    public var unacknowledgedBytes: Int { Int(ringTail - ringHead) }

    /// Whether the peer's FIN has been delivered.
    public var isEndOfStream: Bool { eofDelivered }

    /// Whether everything written, and our FIN if requested, was acknowledged.
    public var isSendComplete: Bool { ringHead == ringTail && (!finRequested || finAcked) }

    /// Queues bytes for sending; returns how many were accepted (0 when the send
    /// buffer is full: wait for `writable`). Sends what the windows allow at once.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> Int {
        let accepted = min(bytes.count, writableBytes)
        if accepted < bytes.count { writeBlocked = true }
        guard accepted > 0, let source = bytes.baseAddress else { return 0 }
        var copied = 0
        while copied < accepted {
            let index = Int((ringTail + UInt64(copied)) & ringMask)
            let chunk = min(accepted - copied, ring.count - index)
            // Safety: index + chunk <= ring.count, copied + chunk <= bytes.count.
            (ring.baseAddress! + index).copyMemory(from: source + copied, byteCount: chunk)
            copied += chunk
        }
        ringTail += UInt64(accepted)
        if state == .connected { fillWindow(now: now) }
        return accepted
    }

    /// Ends our half of the stream: a FIN follows the queued bytes (BEP 29 "ST_FIN").
    /// The peer can still send until its own FIN.
    public func shutdown(now: UInt64) {
        guard !finRequested, state == .synSent || state == .connected else { return }
        finRequested = true
        if state == .connected { fillWindow(now: now) }
    }

    /// Closes: the same as `shutdown` (graceful); the connection ends when both FINs
    /// are acknowledged.
    public func close(now: UInt64) { shutdown(now: now) }

    /// Ends the connection at once with an ST_RESET to the peer.
    public func abort(now: UInt64) {
        guard state != .closed else { return }
        sendControl(.reset, now: now)
        endpoint.counters.resetsSent &+= 1
        finish(error: .aborted)
    }

    // MARK: - Receiving

    /// One packet for this connection (the endpoint matched address and id).
    func receive(_ packet: Packet, now: UInt64) {
        guard state != .closed else { return }
        if packet.type == .reset {
            endpoint.counters.resetsReceived &+= 1
            finish(error: state == .synSent ? .connectionTimedOut : .reset)
            return
        }
        if packet.timestamp != 0 { replyMicro = micros(now) &- packet.timestamp }
        if packet.type == .syn {
            // A retransmitted SYN: our STATE was lost; answer again (BEP 29).
            requestAck()
            return
        }
        if state == .synSent {
            // The acceptor's answer acknowledges our SYN; its seq_nr is the next it
            // will send, so everything before it counts as received (libtorrent does
            // the same: m_ack_nr = seq_nr - 1).
            guard packet.ackNumber == peerAcked &+ 1 else { return }
            ackNumber = packet.sequenceNumber &- 1
            state = .connected
            rtoDeadline = nil
            delegate?.connected(self)
            guard state == .connected else { return }
        }
        guard processAcknowledgement(packet, now: now) else { return }
        peerWindow = Int(packet.windowSize)
        if packet.type == .data || packet.type == .fin {
            receivePayload(packet, now: now)
        }
        guard state != .closed else { return }
        fillWindow(now: now)
        checkFinished(now: now)
    }

    /// Sends the deferred ACK if one is due (called by the endpoint after a batch).
    func flushAck(now: UInt64) {
        ackQueued = false
        guard ackPending, state != .closed else { return }
        sendAck(now: now)
    }

    /// Timers: retransmission, SYN retry, keepalive, zero-window probe, linger.
    func poll(now: UInt64) {
        switch state {
        case .closed:
            return
        case .lingering:
            if now >= lingerUntil { finish(error: nil) }
            return
        case .synSent:
            guard let deadline = rtoDeadline, now >= deadline else { return }
            synAttempts += 1
            if synAttempts >= configuration.maximumSynAttempts {
                finish(error: .connectionTimedOut)
                return
            }
            statistics.retransmissions &+= 1
            sendSyn(now: now)
            return
        case .connected:
            break
        }
        if let deadline = rtoDeadline, now >= deadline {
            retransmissionTimeout(now: now)
            if state == .closed { return }
        }
        if let probe = zeroWindowProbeAt, now >= probe {
            zeroWindowProbeAt = nil
            if bytesInFlight == 0 && peerWindow < payloadSize { peerWindow = payloadSize }
            fillWindow(now: now)
        }
        if now &- lastSend >= configuration.keepaliveInterval {
            sendAck(now: now)
        }
    }

    /// The earliest time `poll` has work (for a reactor timer).
    var nextDeadline: UInt64? {
        switch state {
        case .closed: return nil
        case .lingering: return lingerUntil
        case .synSent: return rtoDeadline
        case .connected:
            var deadline = lastSend &+ configuration.keepaliveInterval
            if let rto = rtoDeadline { deadline = min(deadline, rto) }
            if let probe = zeroWindowProbeAt { deadline = min(deadline, probe) }
            return deadline
        }
    }

    // MARK: - Connection setup (called by the endpoint)

    /// Initiator: send the SYN. Its connection_id is our receive id; the peer answers
    /// with it and sends with id + 1 (BEP 29 "connection setup").
    func start(now: UInt64) {
        sendSyn(now: now)
    }

    /// Acceptor: the SYN's seq_nr is the peer's first; reply STATE at once so the
    /// initiator's connect completes (BEP 29; libutp and libtorrent do the same).
    func accept(_ syn: Packet, now: UInt64) {
        ackNumber = syn.sequenceNumber
        if syn.timestamp != 0 { replyMicro = micros(now) &- syn.timestamp }
        peerWindow = Int(syn.windowSize)
        sendAck(now: now)
    }

    // MARK: - Acknowledgements

    /// Applies ack_nr and the selective ACK. Returns false when the packet must be
    /// dropped (it acknowledges something never sent).
    func processAcknowledgement(_ packet: Packet, now: UInt64) -> Bool {
        let outstanding = Int(WrappingSequence.distance(from: peerAcked, to: nextSequence)) - 1
        let advance = Int(WrappingSequence.distance(from: peerAcked, to: packet.ackNumber))
        if advance > outstanding {
            // Behind our cumulative ack (a reordered, older ACK) is harmless; ahead of
            // anything we sent is forged or corrupt.
            let behind = Int(WrappingSequence.distance(from: packet.ackNumber, to: peerAcked))
            if behind < slots.count { return true }
            endpoint.counters.ackOutOfWindow &+= 1
            return false
        }
        let inFlightBefore = bytesInFlight
        var ackedBytes = 0
        var sample: UInt64?
        var lost = false
        if advance > 0 {
            for step in 1...advance {
                let sequence = peerAcked &+ UInt16(step)
                let index = Int(sequence) & slotMask
                let slot = slots[index]
                if !slot.acked {
                    ackedBytes += slot.length
                    if slot.transmissions == 1 { sample = now &- slot.sentAt }
                    if slot.inFlight { bytesInFlight -= slot.length }
                    if slot.needsResend { resendPending -= 1 }
                }
                if slot.type == .fin { finAcked = true }
                if slot.type == .data { ringHead = slot.offset + UInt64(slot.length) }
                if slot.type == .data && slot.length > 0 { pathMTU.acknowledged(sequence: sequence) }
                slots[index] = OutgoingPacket()
            }
            peerAcked = packet.ackNumber
            duplicateAcks = 0
            consecutiveTimeouts = 0
        } else if outstanding > 0 && packet.type == .state {
            duplicateAcks += 1
            statistics.duplicateAcks &+= 1
            if duplicateAcks == configuration.duplicateAckThreshold {
                lost = markLost(peerAcked &+ 1) || lost
            }
        }
        let remaining = outstanding - advance
        if packet.selectiveAck.count > 0 && remaining > 1 {
            // Bit i stands for ack_nr + 2 + i (BEP 29). ack_nr + 1 is missing by definition.
            let bits = min(packet.selectiveAck.count * 8, remaining - 1)
            var sackedAbove = 0
            var bit = bits - 1
            while bit >= 0 {
                let sequence = packet.ackNumber &+ 2 &+ UInt16(bit)
                let index = Int(sequence) & slotMask
                if packet.selectivelyAcknowledges(sequence) {
                    sackedAbove += 1
                    if !slots[index].acked {
                        let slot = slots[index]
                        ackedBytes += slot.length
                        if slot.transmissions == 1 { sample = now &- slot.sentAt }
                        if slot.inFlight { bytesInFlight -= slot.length }
                        if slot.needsResend { resendPending -= 1 }
                        slots[index].acked = true
                        slots[index].inFlight = false
                        slots[index].needsResend = false
                    }
                } else if sackedAbove >= configuration.duplicateAckThreshold && !slots[index].acked {
                    lost = markLost(sequence) || lost
                }
                bit -= 1
            }
            // ack_nr + 1 itself: the hole every SACK implies.
            if sackedAbove >= configuration.duplicateAckThreshold {
                lost = markLost(packet.ackNumber &+ 1) || lost
            }
        }
        if let sample {
            rtt.add(sample: sample)
        }
        if packet.timestampDifference != 0 {
            delays.add(packet.timestampDifference, now: now)
        }
        if ackedBytes > 0 {
            var delay = delays.currentDelay
            // The one-way delay cannot exceed the RTT: clamp clock-skew artefacts
            // (libtorrent does the same with its minimum RTT).
            if rtt.hasSamples { delay = min(delay, UInt32(clamping: rtt.latest / 1000)) }
            statistics.queueingDelaySum &+= UInt64(delay)
            statistics.queueingDelaySamples &+= 1
            statistics.maximumQueueingDelay = max(statistics.maximumQueueingDelay, delay)
            congestion.acknowledged(bytes: ackedBytes, inFlightBefore: inFlightBefore, delay: delay, packetSize: payloadSize)
        }
        if lost { congestion.lost(now: now) }
        let stillOutstanding = Int(WrappingSequence.distance(from: peerAcked, to: nextSequence)) - 1
        if stillOutstanding == 0 {
            rtoDeadline = nil
        } else if advance > 0 || ackedBytes > 0 {
            rtoDeadline = now &+ currentRTO
        }
        if writeBlocked && writableBytes > 0 {
            writeBlocked = false
            delegate?.writable(self)
        }
        return true
    }

    /// Marks one packet lost for retransmission (fast retransmit); false when it was
    /// already resent once since the last timeout.
    func markLost(_ sequence: UInt16) -> Bool {
        let outstanding = WrappingSequence.distance(from: peerAcked, to: nextSequence) &- 1
        let offset = WrappingSequence.distance(from: peerAcked, to: sequence)
        guard offset >= 1, offset <= outstanding else { return false }
        let index = Int(sequence) & slotMask
        guard !slots[index].acked, !slots[index].fastResent, slots[index].transmissions > 0 else { return false }
        slots[index].fastResent = true
        if slots[index].inFlight {
            slots[index].inFlight = false
            bytesInFlight -= slots[index].length
        }
        if !slots[index].needsResend {
            slots[index].needsResend = true
            resendPending += 1
        }
        statistics.fastRetransmissions &+= 1
        pathMTU.lost(sequence: sequence)
        return true
    }

    func retransmissionTimeout(now: UInt64) {
        consecutiveTimeouts += 1
        statistics.timeouts &+= 1
        if consecutiveTimeouts > configuration.maximumTimeouts {
            finish(error: .timedOut)
            return
        }
        let onlyProbe = pathMTU.timedOut(oldestUnacked: peerAcked &+ 1, newest: nextSequence &- 1)
        if !onlyProbe { congestion.timedOut(now: now) }
        // Everything in flight is presumed lost (libutp marks all for resend).
        var sequence = peerAcked &+ 1
        while sequence != nextSequence {
            let index = Int(sequence) & slotMask
            if !slots[index].acked && slots[index].transmissions > 0 {
                slots[index].inFlight = false
                slots[index].fastResent = false
                if !slots[index].needsResend {
                    slots[index].needsResend = true
                    resendPending += 1
                }
            }
            sequence &+= 1
        }
        bytesInFlight = 0
        rtoDeadline = now &+ RTTEstimator.backedOff(currentRTO, times: consecutiveTimeouts, maximum: configuration.maximumRTO)
        fillWindow(now: now)
    }

    var currentRTO: UInt64 {
        rtt.retransmissionTimeout(minimum: configuration.minimumRTO, maximum: configuration.maximumRTO)
    }

    // MARK: - Incoming data

    func receivePayload(_ packet: Packet, now: UInt64) {
        let sequence = packet.sequenceNumber
        if packet.type == .fin && eofSequence == nil { eofSequence = sequence }
        if let eof = eofSequence, WrappingSequence.isBefore(eof, sequence) {
            return  // past the FIN: nothing can follow it
        }
        requestAck()
        let ahead = Int(WrappingSequence.distance(from: ackNumber, to: sequence))
        if ahead == 0 || ahead >= 0x8000 {
            endpoint.counters.duplicates &+= 1
            return
        }
        if ahead == 1 {
            deliver(type: packet.type, packet.payload)
            ackNumber = sequence
            drainReorder()
            return
        }
        guard ahead <= reorderMask + 1, packet.payload.count <= configuration.reorderSlotBytes else {
            endpoint.counters.outOfWindow &+= 1
            return
        }
        let index = Int(sequence) & reorderMask
        guard reorderLength[index] < 0 else {
            endpoint.counters.duplicates &+= 1
            return
        }
        if packet.payload.count > 0 {
            // Safety: the slot holds reorderSlotBytes; the payload was checked to fit.
            (reorder + index * configuration.reorderSlotBytes).copyMemory(from: packet.payload.baseAddress!, byteCount: packet.payload.count)
        }
        reorderLength[index] = Int32(packet.payload.count)
        reorderType[index] = packet.type.rawValue
        if reorderCount == 0 || WrappingSequence.isBefore(highestReordered, sequence) { highestReordered = sequence }
        reorderCount += 1
        reorderBytes += packet.payload.count
    }

    func drainReorder() {
        while reorderCount > 0 && state != .closed {
            let sequence = ackNumber &+ 1
            let index = Int(sequence) & reorderMask
            let length = Int(reorderLength[index])
            guard length >= 0 else { return }
            reorderLength[index] = -1
            reorderCount -= 1
            reorderBytes -= length
            ackNumber = sequence
            let type = PacketType(rawValue: reorderType[index]) ?? .data
            deliver(type: type, UnsafeRawBufferPointer(start: reorder + index * configuration.reorderSlotBytes, count: length))
        }
    }

    func deliver(type: PacketType, _ payload: UnsafeRawBufferPointer) {
        if type == .fin {
            if !eofDelivered {
                eofDelivered = true
                delegate?.endOfStream(self)
            }
            return
        }
        guard payload.count > 0 else { return }
        statistics.bytesReceived &+= UInt64(payload.count)
        delegate?.received(payload, on: self)
    }

    func requestAck() {
        ackPending = true
        if !ackQueued {
            ackQueued = true
            endpoint.queueAck(self)
        }
    }

    // MARK: - Sending

    /// Payload bytes per new packet: path MTU less IP, UDP and µTP headers.
    public var payloadSize: Int { UTPConfiguration.payloadSize(mtu: pathMTU.current, ipv6: isIPv6) }

    /// The receive window we advertise: what the reorder buffer can still take.
    var advertisedWindow: UInt32 {
        UInt32(clamping: max(0, configuration.receiveWindow - reorderBytes))
    }

    /// Sends retransmissions, then new data and the FIN, as far as the congestion
    /// window, the peer's window and the send slots allow.
    func fillWindow(now: UInt64) {
        guard state == .connected else { return }
        while state == .connected {
            let window = min(congestion.window, peerWindow)
            if resendPending > 0 {
                guard let sequence = oldestNeedingResend() else { resendPending = 0; continue }
                let length = slots[Int(sequence) & slotMask].length
                guard bytesInFlight == 0 || bytesInFlight + length <= window else { break }
                transmit(sequence, now: now)
                continue
            }
            let outstanding = Int(WrappingSequence.distance(from: peerAcked, to: nextSequence)) - 1
            guard outstanding < slots.count - 1 else { break }
            let queued = Int(ringTail - packetized)
            if queued > 0 {
                var length = min(queued, payloadSize)
                if bytesInFlight == 0 {
                    if peerWindow == 0 {
                        if zeroWindowProbeAt == nil { zeroWindowProbeAt = now &+ currentRTO }
                        break
                    }
                    length = min(length, max(peerWindow, 1))
                } else if bytesInFlight + length > window {
                    break
                }
                let sequence = nextSequence
                nextSequence &+= 1
                var packet = OutgoingPacket(type: .data, offset: packetized, length: length)
                if length == payloadSize, let probe = pathMTU.nextProbe() {
                    packet.padTo = probe
                    pathMTU.probing(sequence: sequence, size: probe)
                }
                slots[Int(sequence) & slotMask] = packet
                packetized += UInt64(length)
                transmit(sequence, now: now)
                continue
            }
            if finRequested && finSequence == nil {
                let sequence = nextSequence
                nextSequence &+= 1
                finSequence = sequence
                slots[Int(sequence) & slotMask] = OutgoingPacket(type: .fin, offset: packetized, length: 0)
                transmit(sequence, now: now)
            }
            break
        }
    }

    func oldestNeedingResend() -> UInt16? {
        var sequence = peerAcked &+ 1
        while sequence != nextSequence {
            if slots[Int(sequence) & slotMask].needsResend { return sequence }
            sequence &+= 1
        }
        return nil
    }

    /// Builds and sends the packet in slot `sequence` (first send or resend).
    func transmit(_ sequence: UInt16, now: UInt64) {
        let index = Int(sequence) & slotMask
        let slot = slots[index]
        let header = PacketWriter.Header(type: slot.type, connectionID: sendID, timestamp: micros(now),
                                         timestampDifference: replyMicro, windowSize: advertisedWindow,
                                         sequenceNumber: sequence, ackNumber: ackNumber)
        var headerLength = PacketWriter.write(header, into: scratch)
        if slot.padTo > 0 && slot.transmissions == 0 {
            headerLength = pad(headerLength: headerLength, payload: slot.length)
        }
        var copied = 0
        while copied < slot.length {
            let ringIndex = Int((slot.offset + UInt64(copied)) & ringMask)
            let chunk = min(slot.length - copied, ring.count - ringIndex)
            // Safety: scratch holds 64 KiB; a payload is at most one MTU.
            (scratch + headerLength + copied).copyMemory(from: ring.baseAddress! + ringIndex, byteCount: chunk)
            copied += chunk
        }
        if slot.needsResend { resendPending -= 1 }
        if slot.transmissions > 0 { statistics.retransmissions &+= 1 }
        slots[index].needsResend = false
        slots[index].transmissions &+= 1
        slots[index].sentAt = now
        if !slot.inFlight {
            slots[index].inFlight = true
            bytesInFlight += slot.length
        }
        if slot.transmissions == 0 { statistics.bytesSent &+= UInt64(slot.length) }
        // A DATA packet carries our ack_nr; a separate STATE is needed only to
        // convey a selective ACK.
        if reorderCount == 0 { ackPending = false }
        if rtoDeadline == nil { rtoDeadline = now &+ currentRTO }
        // A resend larger than the path MTU learnt since its first transmission
        // would be refused (EMSGSIZE) or dropped forever with DF: let it fragment.
        let oversized = slot.transmissions > 0 && headerLength + slot.length + (isIPv6 ? 48 : 28) > pathMTU.current
        send(UnsafeRawBufferPointer(start: scratch, count: headerLength + slot.length), now: now, fragmentable: oversized)
    }

    /// Appends padding extensions so the IP packet reaches the probe size; returns
    /// the new header length. Each extension holds at most 255 bytes.
    func pad(headerLength: Int, payload: Int) -> Int {
        let overhead = isIPv6 ? 48 : 28
        var missing = pathMTU.probeSize - overhead - headerLength - payload
        guard missing > 2 else { return headerLength }
        scratch.storeBytes(of: PathMTU.paddingExtension, toByteOffset: 1, as: UInt8.self)
        var offset = headerLength
        while missing > 2 {
            let body = min(255, missing - 2)
            missing -= body + 2
            let last = missing <= 2
            scratch.storeBytes(of: last ? 0 : PathMTU.paddingExtension, toByteOffset: offset, as: UInt8.self)
            scratch.storeBytes(of: UInt8(body), toByteOffset: offset + 1, as: UInt8.self)
            // Safety: the probe is at most one MTU, far below the 64 KiB scratch.
            (scratch + offset + 2).initializeMemory(as: UInt8.self, repeating: 0, count: body)
            offset += body + 2
        }
        return offset
    }

    func sendSyn(now: UInt64) {
        let synIndex = Int(peerAcked &+ 1) & slotMask
        if synAttempts == 0 {
            slots[synIndex] = OutgoingPacket(type: .syn)
            nextSequence &+= 1
        }
        slots[synIndex].transmissions = UInt32(synAttempts + 1)
        slots[synIndex].sentAt = now
        // BEP 29: the SYN's connection_id is the initiator's receive id.
        let header = PacketWriter.Header(type: .syn, connectionID: receiveID, timestamp: micros(now),
                                         timestampDifference: 0, windowSize: advertisedWindow,
                                         sequenceNumber: peerAcked &+ 1, ackNumber: 0)
        let length = PacketWriter.write(header, into: scratch)
        rtoDeadline = now &+ RTTEstimator.backedOff(configuration.synTimeout, times: synAttempts, maximum: configuration.maximumRTO)
        send(UnsafeRawBufferPointer(start: scratch, count: length), now: now)
    }

    /// ST_STATE with the selective ACK when packets wait out of order.
    func sendAck(now: UInt64) {
        ackPending = false
        var maskBytes = 0
        if reorderCount > 0 {
            let bits = Int(WrappingSequence.distance(from: ackNumber &+ 2, to: highestReordered)) + 1
            maskBytes = min(((bits + 31) / 32) * PacketWriter.selectiveAckWord, 64)
        }
        let header = PacketWriter.Header(type: .state, connectionID: sendID, timestamp: micros(now),
                                         timestampDifference: replyMicro, windowSize: advertisedWindow,
                                         sequenceNumber: nextSequence, ackNumber: ackNumber)
        let length = PacketWriter.write(header, selectiveAckBytes: maskBytes, into: scratch)
        if maskBytes > 0 {
            let mask = scratch + Packet.headerSize + 2
            for bit in 0..<(maskBytes * 8) {
                let sequence = ackNumber &+ 2 &+ UInt16(bit)
                if reorderLength[Int(sequence) & reorderMask] >= 0 && WrappingSequence.distance(from: ackNumber, to: sequence) <= UInt16(reorderMask + 1) {
                    let byte = mask + (bit >> 3)
                    byte.storeBytes(of: byte.load(as: UInt8.self) | (1 << UInt8(bit & 7)), as: UInt8.self)
                }
            }
        }
        send(UnsafeRawBufferPointer(start: scratch, count: length), now: now)
    }

    func sendControl(_ type: PacketType, now: UInt64) {
        let header = PacketWriter.Header(type: type, connectionID: sendID, timestamp: micros(now),
                                         timestampDifference: replyMicro, windowSize: advertisedWindow,
                                         sequenceNumber: nextSequence, ackNumber: ackNumber)
        let length = PacketWriter.write(header, into: scratch)
        send(UnsafeRawBufferPointer(start: scratch, count: length), now: now)
    }

    func send(_ packet: UnsafeRawBufferPointer, now: UInt64, fragmentable: Bool = false) {
        lastSend = now
        statistics.packetsSent &+= 1
        if fragmentable { statistics.fragmentableResends &+= 1 }
        switch endpoint.transmit(packet, to: peer, fragmentable: fragmentable) {
        case .sent, .dropped:
            break
        case .tooBig(let mtu):
            // The probe itself was refused: its retransmission (unpadded) recovers it.
            pathMTU.tooBig(reported: mtu, packetSize: packet.count + (isIPv6 ? 48 : 28))
        }
    }

    /// The network says nothing larger than `mtu` bytes reaches the peer (ICMP
    /// "fragmentation needed" / "packet too big", or a local EMSGSIZE, from the
    /// socket's error queue). Lowers the path MTU at once; a probe above it was
    /// dropped on the way, so it is resent unpadded now, without counting it as
    /// congestion (the loss says nothing about queues).
    public func pathTooBig(mtu: Int, now: UInt64) {
        guard mtu > 0, state == .connected || state == .synSent else { return }
        if let probe = pathMTU.tooBig(reported: mtu, packetSize: 0), markLost(probe) {
            fillWindow(now: now)
        }
    }

    // MARK: - Closing

    func checkFinished(now: UInt64) {
        guard state == .connected, eofDelivered, finRequested, finAcked, ringHead == ringTail else { return }
        state = .lingering
        lingerUntil = now &+ configuration.linger
        rtoDeadline = nil
        delegate?.closed(self, error: nil)
    }

    func finish(error: UTPError?) {
        guard state != .closed else { return }
        let wasLingering = state == .lingering
        state = .closed
        self.error = error
        rtoDeadline = nil
        endpoint.connectionClosed(self)
        if !wasLingering { delegate?.closed(self, error: error) }
    }

    @inline(__always)
    func micros(_ now: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: now / 1000) }
}
