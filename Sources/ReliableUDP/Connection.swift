import Reactor

/// One ReliableUDP connection as pure state: it takes datagrams and `now`
/// (nanoseconds) and produces datagrams through a `transmit` closure; it does
/// no I/O, reads no clock and allocates nothing after `init`.
///
/// Sending: `send(_:_:now:)` (or `write` + `sendWritten`) queues a message;
/// `flush(now:transmit:)` packs queued messages, acknowledgements and
/// retransmissions into datagrams. Receiving: `receive(_:now:deliver:)` takes
/// one datagram and hands each deliverable message to `deliver` as a view valid
/// during that call. Timers: `nextDeadline` says when `maintain(now:transmit:)`
/// must run next (loss detection, probe timeout, heartbeat, dead peer, delayed
/// acknowledgement, grouping deadline).
///
/// ```swift
/// let connection = try Connection(localID: 1, peerID: 2, now: clock.now())
/// try connection.send(.delivery, bytes, now: now)
/// connection.flush(now: now) { datagram in link.send(datagram); return true }
/// connection.receive(datagram, now: now) { message in use(message.bytes) }
/// ```
public final class Connection {
    /// RFC 9002 §6.1.1: a packet is lost when a packet sent this many later is acknowledged.
    public static let packetThreshold: UInt64 = 3
    /// RFC 9002 §6.1.2: ... or when it was sent more than 9/8 RTT before the latest acknowledged one.
    public static let timeThresholdNumerator: UInt64 = 9
    /// The denominator of the 9/8 RTT time threshold (RFC 9002 §6.1.2).
    public static let timeThresholdDenominator: UInt64 = 8
    /// RFC 9002 §6.1.2 kGranularity, the recommended 1 ms (the default of
    /// `Configuration.granularity`).
    public static let granularity: UInt64 = 1_000_000
    /// RFC 9002 §7.2: the minimum congestion window is 2 datagrams.
    public static let minimumWindowPackets = 2
    /// Packet numbers kept free of eliciting packets so acknowledgements can
    /// always be sent even when the in-flight table is full.
    static let ackOnlyReserve: UInt64 = 64

    /// Whether the connection still carries messages.
    public enum State: Sendable, Equatable {
        /// Messages flow both ways.
        case open
        /// We or the peer sent CLOSE.
        case closed
        /// Nothing valid arrived for `deadPeerTimeout`.
        case dead
    }

    /// The sizes and timings the connection was made with.
    public let configuration: Configuration
    /// This side's connection id (the peer puts it in the header's destination field).
    public let localID: UInt64
    /// The peer's connection id (this side addresses its packets to it).
    public let peerID: UInt64
    /// Opt-in authenticated encryption; set before the first packet.
    public var protection: (any PacketProtection)?
    /// Open, closed, or dead (peer silent for `deadPeerTimeout`).
    public private(set) var state: State = .open
    /// Datagrams dropped on receipt, per reason (malformed, authentication, duplicates).
    public private(set) var drops = DropCounters()
    /// Packets, messages, acknowledgements, losses and retransmissions so far.
    public private(set) var counters = TransferCounters()
    /// The RTT estimate (RFC 9002 §5) from acknowledged packets.
    public private(set) var rtt: RTTEstimator
    /// The congestion window in bytes (RFC 9002 §7: slow start, halving on loss).
    public private(set) var congestionWindow: Int
    /// Bytes of ack-eliciting packets sent and neither acknowledged nor declared lost.
    public private(set) var bytesInFlight = 0

    // MARK: Send side: delivery messages (slot = sequence & mask)
    let sendSlots: MessageSlots
    let sendSetOffset: UnsafeMutablePointer<UInt16>
    let sendAcked: UnsafeMutablePointer<Bool>
    let sendQueued: UnsafeMutablePointer<Bool>
    let sendMask: UInt64
    /// Lowest delivery sequence not yet acknowledged.
    public private(set) var sendBase: UInt64 = 0
    /// Next delivery sequence to assign.
    public private(set) var nextDeliverySequence: UInt64 = 0
    /// First delivery sequence never sent.
    var nextUnsent: UInt64 = 0
    /// The peer accepts delivery sequences below this (its receive window).
    public private(set) var peerDeliveryLimit: UInt64
    let retransmitQueue: UnsafeMutablePointer<UInt64>
    var retransmitHead = 0
    var retransmitCount = 0

    // MARK: Send side: none / order messages (FIFO)
    let unreliableSlots: MessageSlots
    let unreliableTier: UnsafeMutablePointer<Guarantee>
    let unreliableSequence: UnsafeMutablePointer<UInt64>
    let unreliableSetOffset: UnsafeMutablePointer<UInt16>
    var unreliableHead = 0
    var unreliableCount = 0
    var nextOrderSequence: UInt64 = 0

    // MARK: Message sets and write staging
    var inSet = false
    var setBaseDelivery: UInt64 = 0
    var setBaseOrder: UInt64 = 0
    let staging: UnsafeMutableRawPointer
    /// Bytes `write(_:)` has staged for the next `sendWritten(_:now:)`.
    public private(set) var writtenLength = 0
    /// When the oldest message not yet packed was queued (grouping deadline).
    var pendingSince: UInt64?
    var pendingBytes = 0
    /// A send was refused and `takeWritable()` has not reported room since.
    var refusedSinceWritable = false

    // MARK: Sent packets (index = packet number & mask)
    let sentTime: UnsafeMutablePointer<UInt64>
    let sentBytes: UnsafeMutablePointer<Int32>
    let sentInFlight: UnsafeMutablePointer<Bool>
    let sentNumber: UnsafeMutablePointer<UInt64>
    let sentMessageStart: UnsafeMutablePointer<UInt64>
    let sentMessageCount: UnsafeMutablePointer<Int32>
    let packetMask: UInt64
    /// Delivery sequences carried by each sent packet, appended in packet order.
    let packetMessages: UnsafeMutablePointer<UInt64>
    let packetMessagesMask: UInt64
    var packetMessagesHead: UInt64 = 0
    /// The packet number the next packet sent gets (per direction, from 0, never reused).
    public private(set) var nextPacketNumber: UInt64 = 0
    /// Packets below this are acknowledged or lost.
    var oldestUnacked: UInt64 = 0
    var largestAcked: UInt64?
    var lossTime: UInt64?
    var ptoCount = 0
    var probesOwed = 0
    var heartbeatOwed = false
    var lastElicitingSent: UInt64
    var recoveryStart: UInt64 = 0
    var slowStartThreshold = Int.max

    // MARK: Receive side
    let received: AckRangeSet
    var largestReceivedTime: UInt64 = 0
    var ackElicitingUnacked = 0
    var ackImmediately = false
    var ackNeeded = false
    var ackDeadline: UInt64 = .max
    /// When the last valid packet arrived, in nanoseconds (the dead-peer clock).
    public private(set) var lastReceiveTime: UInt64
    let receiveSlots: MessageSlots
    /// 0 empty, 1 buffered, 2 delivered early (inside a set) but not yet passed.
    let receiveState: UnsafeMutablePointer<UInt8>
    let receiveSetBase: UnsafeMutablePointer<UInt64>
    let receiveMask: UInt64
    /// Next delivery sequence to deliver in order.
    public private(set) var nextExpected: UInt64 = 0
    var receiveHighest: UInt64 = 0
    var orderStarted = false
    var orderBase: UInt64 = 0
    let orderSeen: UnsafeMutablePointer<UInt64>
    var orderSeenWords = 0

    // MARK: Datagram buffers
    let transmitBuffer: UnsafeMutableRawPointer
    var heldLength = 0
    let openBuffer: UnsafeMutableRawPointer

    /// `peerReceiveWindow`: the window the peer announced in the handshake
    /// (defaults to ours).
    public init(configuration: Configuration = Configuration(), localID: UInt64, peerID: UInt64,
                now: UInt64, peerReceiveWindow: Int? = nil) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.localID = localID
        self.peerID = peerID
        rtt = RTTEstimator(initial: configuration.initialRTT)
        congestionWindow = configuration.initialWindowPackets * configuration.maxDatagramSize
        lastElicitingSent = now
        lastReceiveTime = now
        let size = configuration.maxMessageSize
        sendSlots = MessageSlots(count: configuration.sendWindow, slotSize: size)
        sendSetOffset = .allocate(filledWith: 0, count: configuration.sendWindow)
        sendAcked = .allocate(filledWith: false, count: configuration.sendWindow)
        sendQueued = .allocate(filledWith: false, count: configuration.sendWindow)
        sendMask = UInt64(configuration.sendWindow - 1)
        peerDeliveryLimit = UInt64(peerReceiveWindow ?? configuration.receiveWindow)
        retransmitQueue = .allocate(filledWith: 0, count: configuration.sendWindow)
        unreliableSlots = MessageSlots(count: configuration.unreliableQueue, slotSize: size)
        unreliableTier = .allocate(filledWith: .none, count: configuration.unreliableQueue)
        unreliableSequence = .allocate(filledWith: 0, count: configuration.unreliableQueue)
        unreliableSetOffset = .allocate(filledWith: 0, count: configuration.unreliableQueue)
        staging = .allocate(byteCount: size, alignment: 16)
        let packets = configuration.maxPacketsInFlight
        sentTime = .allocate(filledWith: 0, count: packets)
        sentBytes = .allocate(filledWith: 0, count: packets)
        sentInFlight = .allocate(filledWith: false, count: packets)
        sentNumber = .allocate(filledWith: .max, count: packets)
        sentMessageStart = .allocate(filledWith: 0, count: packets)
        sentMessageCount = .allocate(filledWith: 0, count: packets)
        packetMask = UInt64(packets - 1)
        var messageRing = 1
        while messageRing < max(4 * configuration.sendWindow, 1024) { messageRing <<= 1 }
        packetMessages = .allocate(filledWith: 0, count: messageRing)
        packetMessagesMask = UInt64(messageRing - 1)
        received = AckRangeSet(capacity: configuration.ackRanges)
        receiveSlots = MessageSlots(count: configuration.receiveWindow, slotSize: size)
        receiveState = .allocate(filledWith: 0, count: configuration.receiveWindow)
        receiveSetBase = .allocate(filledWith: 0, count: configuration.receiveWindow)
        receiveMask = UInt64(configuration.receiveWindow - 1)
        orderSeen = .allocate(filledWith: 0, count: 65_536 / 64)
        transmitBuffer = .allocate(byteCount: configuration.maxDatagramSize, alignment: 16)
        openBuffer = .allocate(byteCount: configuration.maxDatagramSize, alignment: 16)
    }

    deinit {
        sendSetOffset.deallocate(); sendAcked.deallocate(); sendQueued.deallocate()
        retransmitQueue.deallocate()
        unreliableTier.deallocate(); unreliableSequence.deallocate(); unreliableSetOffset.deallocate()
        staging.deallocate()
        sentTime.deallocate(); sentBytes.deallocate(); sentInFlight.deallocate(); sentNumber.deallocate()
        sentMessageStart.deallocate(); sentMessageCount.deallocate(); packetMessages.deallocate()
        receiveState.deallocate(); receiveSetBase.deallocate(); orderSeen.deallocate()
        transmitBuffer.deallocate(); openBuffer.deallocate()
    }

    // MARK: - Sending

    /// True when a `delivery` and an unreliable message would both be accepted.
    public var isWritable: Bool {
        state == .open && nextDeliverySequence - sendBase < UInt64(configuration.sendWindow)
            && unreliableCount < configuration.unreliableQueue
    }

    /// True once after a send was refused with `.wouldBlock` and both tiers have
    /// room again (then false until the next refusal): the edge a host turns
    /// into its `writable` callback. Check it after `receive` and `maintain`.
    public func takeWritable() -> Bool {
        guard refusedSinceWritable && isWritable else { return false }
        refusedSinceWritable = false
        return true
    }

    /// Messages queued and not yet sent (all tiers).
    public var queued: Int { unreliableCount + Int(nextDeliverySequence - nextUnsent) }

    /// `delivery` messages queued or in flight, not yet acknowledged.
    public var unacknowledged: Int { Int(nextDeliverySequence - sendBase) }

    /// Queues one message. Throws `.wouldBlock` when the send buffer for its tier
    /// is full (nothing is queued then), `.messageTooLarge` above the limit.
    public func send(_ guarantee: Guarantee, _ bytes: UnsafeRawBufferPointer, now: UInt64) throws(SendError) {
        guard state == .open else { throw .closed }
        guard bytes.count <= configuration.maxMessageSize else {
            throw .messageTooLarge(size: bytes.count, limit: configuration.maxMessageSize)
        }
        switch guarantee {
        case .delivery:
            guard nextDeliverySequence - sendBase < UInt64(configuration.sendWindow) else {
                counters.refusedSends += 1
                refusedSinceWritable = true
                throw .wouldBlock(tier: .delivery, limit: configuration.sendWindow)
            }
            let offset = inSet ? nextDeliverySequence - setBaseDelivery : 0
            guard offset <= UInt64(UInt16.max) else { throw .setTooLarge }
            let slot = Int(nextDeliverySequence & sendMask)
            sendSlots.store(slot, bytes)
            sendSetOffset[slot] = UInt16(offset)
            sendAcked[slot] = false
            sendQueued[slot] = false
            nextDeliverySequence += 1
        case .order, .none:
            guard unreliableCount < configuration.unreliableQueue else {
                counters.refusedSends += 1
                refusedSinceWritable = true
                throw .wouldBlock(tier: guarantee, limit: configuration.unreliableQueue)
            }
            var offset: UInt64 = 0
            var sequence: UInt64 = 0
            if guarantee == .order {
                sequence = nextOrderSequence
                offset = inSet ? sequence - setBaseOrder : 0
                guard offset <= UInt64(UInt16.max) else { throw .setTooLarge }
                nextOrderSequence += 1
            }
            let slot = (unreliableHead + unreliableCount) % configuration.unreliableQueue
            unreliableSlots.store(slot, bytes)
            unreliableTier[slot] = guarantee
            unreliableSequence[slot] = sequence
            unreliableSetOffset[slot] = UInt16(offset)
            unreliableCount += 1
        }
        counters.messagesSent += 1
        if pendingSince == nil { pendingSince = now }
        pendingBytes += WireFormat.dataFrameOverhead + bytes.count
    }

    /// Array convenience for tools and tests.
    public func send(_ guarantee: Guarantee, _ bytes: [UInt8], now: UInt64) throws(SendError) {
        let result: Result<Void, SendError> = bytes.withUnsafeBytes { raw in
            do throws(SendError) { try send(guarantee, raw, now: now); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// Appends to the message being built; `sendWritten` sends it.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(SendError) {
        guard writtenLength + bytes.count <= configuration.maxMessageSize else {
            throw .messageTooLarge(size: writtenLength + bytes.count, limit: configuration.maxMessageSize)
        }
        if let base = bytes.baseAddress, bytes.count > 0 {
            // Safety: bounds checked above; staging holds maxMessageSize bytes.
            (staging + writtenLength).copyMemory(from: base, byteCount: bytes.count)
        }
        writtenLength += bytes.count
    }

    /// Sends what `write` built, as one message, and starts a new one. On
    /// `.wouldBlock` the written bytes stay for a later try.
    public func sendWritten(_ guarantee: Guarantee, now: UInt64) throws(SendError) {
        try send(guarantee, UnsafeRawBufferPointer(start: staging, count: writtenLength), now: now)
        writtenLength = 0
    }

    /// Messages sent between `beginSet` and `endSet` form a message set: the
    /// peer may yield them in any order relative to each other, but after every
    /// earlier set (per tier) and before every later one.
    public func beginSet() {
        inSet = true
        setBaseDelivery = nextDeliverySequence
        setBaseOrder = nextOrderSequence
    }

    /// Ends the message set `beginSet()` began; later messages belong after it.
    public func endSet() { inSet = false }

    /// Runs `body` inside a message set.
    public func asSet<E: Error>(_ body: () throws(E) -> Void) throws(E) {
        beginSet()
        defer { endSet() }
        try body()
    }

    /// Sends CLOSE (best effort) and stops the connection.
    public func close(now: UInt64, transmit: (UnsafeRawBufferPointer) -> Bool) {
        guard state == .open else { return }
        var offset = beginPacket()
        transmitBuffer.storeBytes(of: FrameType.close.rawValue, toByteOffset: offset, as: UInt8.self)
        BigEndian.put(UInt16(0), transmitBuffer, offset + 1)
        offset += WireFormat.closeFrameLength
        let length = finishPacket(length: offset, eliciting: false, messageStart: packetMessagesHead, now: now)
        _ = transmit(UnsafeRawBufferPointer(start: transmitBuffer, count: length))
        state = .closed
    }

    // MARK: - Timers

    /// Takes a round trip measured outside the packet number space (the
    /// handshake: hello-with-cookie sent → welcome received, on a hello that was
    /// sent once, so the sample is unambiguous as in RFC 6298 §3 / Karn) as the
    /// first RTT sample. Without it, a packet lost before the first
    /// acknowledgement waits a PTO built on `initialRTT` (333 ms + 4 × 166 ms);
    /// RFC 9002 §6.2.2 uses the initial RTT only "before an RTT sample is
    /// available", and QUIC takes its first sample from the handshake packets'
    /// acknowledgements. Ignored once a sample exists.
    public func seedRTT(_ sample: UInt64) {
        guard !rtt.hasSamples, sample > 0 else { return }
        rtt.add(sample: sample)
    }

    /// When `maintain` must run next (nil: nothing scheduled).
    public var nextDeadline: UInt64? {
        guard state == .open else { return nil }
        var deadline = lastReceiveTime &+ configuration.deadPeerTimeout
        if ackNeeded { deadline = min(deadline, ackDeadline) }
        if let lossTime { deadline = min(deadline, lossTime) }
        else if bytesInFlight > 0 { deadline = min(deadline, probeDeadline) }
        if bytesInFlight == 0 { deadline = min(deadline, lastElicitingSent &+ configuration.heartbeatPeriod) }
        if let pendingSince, let grouping = configuration.grouping, canSendEliciting { deadline = min(deadline, pendingSince &+ grouping.delay) }
        return deadline
    }

    /// RFC 9002 §6.2.1: PTO = smoothed_rtt + max(4·rttvar, kGranularity) + max_ack_delay,
    /// doubled per consecutive timeout.
    var probeDeadline: UInt64 {
        let base = rtt.smoothed &+ max(4 &* rtt.variation, configuration.granularity) &+ configuration.maxAckDelay
        return lastElicitingSent &+ RTTEstimator.backedOff(base, times: ptoCount, maximum: 60_000_000_000)
    }

    /// Runs what is due at `now` (dead peer, loss timer, probe timeout,
    /// heartbeat) and then `flush`. Hosts without a reactor call this from
    /// their loop; the reactor wiring calls it from a timer at `nextDeadline`.
    public func maintain(now: UInt64, transmit: (UnsafeRawBufferPointer) -> Bool) {
        guard state == .open else { return }
        if now &- lastReceiveTime >= configuration.deadPeerTimeout && now >= lastReceiveTime {
            state = .dead
            return
        }
        if let lossTime, now >= lossTime {
            detectLosses(now: now)
        } else if bytesInFlight > 0 && now >= probeDeadline {
            // RFC 9002 §6.2.4: send an ack-eliciting probe, ignoring the congestion window.
            ptoCount += 1
            probesOwed = 1
            counters.probeTimeouts += 1
        }
        if bytesInFlight == 0 && now &- lastElicitingSent >= configuration.heartbeatPeriod {
            heartbeatOwed = true
        }
        flush(now: now, transmit: transmit)
    }

    // MARK: - Flushing

    var datagramRoom: Int { configuration.maxDatagramSize - (protection == nil ? 0 : WireFormat.tagLength) }

    var canSendEliciting: Bool {
        bytesInFlight < congestionWindow
            && nextPacketNumber - oldestUnacked < UInt64(configuration.maxPacketsInFlight) - Self.ackOnlyReserve
            && packetMessagesHead - oldestMessageStart + UInt64(configuration.maxDatagramSize / WireFormat.dataFrameOverhead)
                <= packetMessagesMask + 1
    }

    var oldestMessageStart: UInt64 {
        let index = Int(oldestUnacked & packetMask)
        return oldestUnacked < nextPacketNumber && sentNumber[index] == oldestUnacked
            ? sentMessageStart[index] : packetMessagesHead
    }

    var hasNewDelivery: Bool { nextUnsent < nextDeliverySequence && nextUnsent < peerDeliveryLimit }

    /// Packs and sends what is due: acknowledgements, probes and heartbeats,
    /// retransmissions, queued messages (within the congestion window and the
    /// peer's receive window). With grouping on, a datagram that is not full
    /// waits until the grouping deadline. `transmit` returns false when the
    /// socket would block; the datagram is kept and sent first next time.
    public func flush(now: UInt64, transmit: (UnsafeRawBufferPointer) -> Bool) {
        if heldLength > 0 {
            guard transmit(UnsafeRawBufferPointer(start: transmitBuffer, count: heldLength)) else { return }
            heldLength = 0
        }
        while state == .open {
            purgeStaleRetransmits()
            let probing = probesOwed > 0 || heartbeatOwed
            let dataReady = retransmitCount > 0 || unreliableCount > 0 || hasNewDelivery
            let mayData = dataReady && (canSendEliciting || probing)
            let ackDue = ackNeeded && (ackImmediately || ackElicitingUnacked >= configuration.ackElicitingThreshold
                                       || now >= ackDeadline)
            if !mayData && !ackDue && !probing { return }
            if mayData && !ackDue && !probing && retransmitCount == 0, let grouping = configuration.grouping,
               pendingBytes + WireFormat.headerLength < datagramRoom - WireFormat.ackFrameFixed,
               let since = pendingSince, now < since &+ grouping.delay {
                return  // hold for more messages (grouping)
            }
            var offset = beginPacket()
            if ackNeeded { offset = writeAck(at: offset, now: now) }
            var eliciting = false
            if probing {
                transmitBuffer.storeBytes(of: FrameType.ping.rawValue, toByteOffset: offset, as: UInt8.self)
                offset += 1
                eliciting = true
                if probesOwed > 0 { probesOwed -= 1 } else { counters.heartbeatsSent += 1 }
                heartbeatOwed = false
            }
            let messageStart = packetMessagesHead
            if mayData {
                let before = offset
                offset = writeData(at: offset)
                if offset > before { eliciting = true }
            }
            let length = finishPacket(length: offset, eliciting: eliciting, messageStart: messageStart, now: now)
            if !transmit(UnsafeRawBufferPointer(start: transmitBuffer, count: length)) {
                heldLength = length
                return
            }
        }
    }

    /// Writes the header for the next packet number; returns the offset after it.
    func beginPacket() -> Int {
        let buffer = transmitBuffer
        buffer.storeBytes(of: WireFormat.version, toByteOffset: 0, as: UInt8.self)
        buffer.storeBytes(of: PacketType.data.rawValue, toByteOffset: 1, as: UInt8.self)
        buffer.storeBytes(of: protection == nil ? 0 : WireFormat.protectedFlag, toByteOffset: 2, as: UInt8.self)
        buffer.storeBytes(of: UInt8(0), toByteOffset: 3, as: UInt8.self)
        BigEndian.put(peerID, buffer, 4)
        BigEndian.put(nextPacketNumber, buffer, 12)
        return WireFormat.headerLength
    }

    /// Records the packet as sent, seals it when protected; returns its length.
    func finishPacket(length: Int, eliciting: Bool, messageStart: UInt64, now: UInt64) -> Int {
        let number = nextPacketNumber
        nextPacketNumber += 1
        let index = Int(number & packetMask)
        sentNumber[index] = number
        sentTime[index] = now
        sentMessageStart[index] = messageStart
        sentMessageCount[index] = Int32(packetMessagesHead - messageStart)
        var total = length
        if let protection {
            protection.seal(header: UnsafeRawBufferPointer(start: transmitBuffer, count: WireFormat.headerLength),
                            packetNumber: number, body: transmitBuffer + WireFormat.headerLength,
                            plaintextLength: length - WireFormat.headerLength)
            total += WireFormat.tagLength
        }
        sentBytes[index] = Int32(total)
        sentInFlight[index] = eliciting
        if eliciting {
            bytesInFlight += total
            lastElicitingSent = now
        } else if oldestUnacked == number {
            oldestUnacked += 1
        }
        counters.packetsSent += 1
        return total
    }

    func writeAck(at start: Int, now: UInt64) -> Int {
        guard !received.isEmpty else { return start }
        let buffer = transmitBuffer
        var offset = start
        buffer.storeBytes(of: FrameType.ack.rawValue, toByteOffset: offset, as: UInt8.self)
        let delay = min((now &- largestReceivedTime) / 1000, UInt64(UInt32.max))
        BigEndian.put(UInt32(delay), buffer, offset + 1)
        BigEndian.put(nextExpected + UInt64(configuration.receiveWindow), buffer, offset + 5)
        let countOffset = offset + 25
        offset += WireFormat.ackFrameFixed
        var ranges = 0
        var previousLow: UInt64 = 0
        // An indexed loop, not `forEach`: a closure capturing these mutable
        // locals would box them on the heap (in unoptimised builds at least).
        for index in 0..<received.count {
            let (low, high) = received.range(index)
            if index == 0 {
                BigEndian.put(high, buffer, start + 13)
                BigEndian.put(UInt32(truncatingIfNeeded: min(high - low, UInt64(UInt32.max))), buffer, start + 21)
                previousLow = high - min(high - low, UInt64(UInt32.max))
                continue
            }
            guard ranges < WireFormat.maxAckRanges, high - low <= UInt64(UInt32.max),
                  previousLow - high - 2 <= UInt64(UInt32.max) else { break }
            BigEndian.put(UInt32(previousLow - high - 2), buffer, offset)
            BigEndian.put(UInt32(high - low), buffer, offset + 4)
            offset += WireFormat.ackRangeLength
            ranges += 1
            previousLow = low
        }
        buffer.storeBytes(of: UInt8(ranges), toByteOffset: countOffset, as: UInt8.self)
        ackNeeded = false
        ackImmediately = false
        ackElicitingUnacked = 0
        ackDeadline = .max
        counters.acksSent += 1
        return offset
    }

    /// Retransmissions first, then queued none/order messages, then new
    /// delivery messages, while they fit.
    func writeData(at start: Int) -> Int {
        var offset = start
        let room = datagramRoom
        while retransmitCount > 0 {
            let sequence = retransmitQueue[retransmitHead]
            let slot = Int(sequence & sendMask)
            if sequence < sendBase || sendAcked[slot] {
                if sequence >= sendBase { sendQueued[slot] = false }
                popRetransmit()
                continue
            }
            let length = Int(sendSlots.lengths[slot])
            guard offset + WireFormat.dataFrameOverhead + length <= room else { return offset }
            sendQueued[slot] = false
            popRetransmit()
            offset = writeFrame(at: offset, .delivery, sequence: sequence, setOffset: sendSetOffset[slot],
                                payload: sendSlots.view(slot))
            appendPacketMessage(sequence)
            counters.retransmitted += 1
        }
        while unreliableCount > 0 {
            let slot = unreliableHead
            let length = Int(unreliableSlots.lengths[slot])
            guard offset + WireFormat.dataFrameOverhead + length <= room else { return offset }
            offset = writeFrame(at: offset, unreliableTier[slot], sequence: unreliableSequence[slot],
                                setOffset: unreliableSetOffset[slot], payload: unreliableSlots.view(slot))
            unreliableHead = (unreliableHead + 1) % configuration.unreliableQueue
            unreliableCount -= 1
            consumedPending(length)
        }
        while hasNewDelivery {
            let slot = Int(nextUnsent & sendMask)
            let length = Int(sendSlots.lengths[slot])
            guard offset + WireFormat.dataFrameOverhead + length <= room else { return offset }
            offset = writeFrame(at: offset, .delivery, sequence: nextUnsent, setOffset: sendSetOffset[slot],
                                payload: sendSlots.view(slot))
            appendPacketMessage(nextUnsent)
            nextUnsent += 1
            consumedPending(length)
        }
        return offset
    }

    func consumedPending(_ length: Int) {
        pendingBytes -= WireFormat.dataFrameOverhead + length
        if unreliableCount == 0 && nextUnsent >= nextDeliverySequence {
            pendingSince = nil
            pendingBytes = 0
        }
    }

    /// Drops queued retransmissions whose message was acknowledged meanwhile.
    func purgeStaleRetransmits() {
        while retransmitCount > 0 {
            let sequence = retransmitQueue[retransmitHead]
            let slot = Int(sequence & sendMask)
            guard sequence < sendBase || sendAcked[slot] else { return }
            if sequence >= sendBase { sendQueued[slot] = false }
            popRetransmit()
        }
    }

    func popRetransmit() {
        retransmitHead = (retransmitHead + 1) % configuration.sendWindow
        retransmitCount -= 1
    }

    func appendPacketMessage(_ sequence: UInt64) {
        packetMessages[Int(packetMessagesHead & packetMessagesMask)] = sequence
        packetMessagesHead += 1
    }

    func writeFrame(at offset: Int, _ tier: Guarantee, sequence: UInt64, setOffset: UInt16,
                    payload: UnsafeRawBufferPointer) -> Int {
        let buffer = transmitBuffer
        buffer.storeBytes(of: FrameType.data.rawValue, toByteOffset: offset, as: UInt8.self)
        buffer.storeBytes(of: tier.rawValue, toByteOffset: offset + 1, as: UInt8.self)
        BigEndian.put(setOffset, buffer, offset + 2)
        BigEndian.put(UInt16(payload.count), buffer, offset + 4)
        BigEndian.put(sequence, buffer, offset + 6)
        if let base = payload.baseAddress, payload.count > 0 {
            // Safety: the caller checked the frame fits datagramRoom.
            (buffer + offset + WireFormat.dataFrameOverhead).copyMemory(from: base, byteCount: payload.count)
        }
        return offset + WireFormat.dataFrameOverhead + payload.count
    }

    // MARK: - Receiving

    /// Takes one datagram addressed to this connection. Deliverable messages
    /// go to `deliver`, each a view valid only during that call. Returns false
    /// when the datagram was dropped (the reason is counted in `drops`).
    @discardableResult
    public func receive(_ datagram: UnsafeRawBufferPointer, now: UInt64,
                        deliver: (ReceivedMessage) -> Void) -> Bool {
        let packet: PacketView
        do { packet = try PacketView(datagram) } catch { drops.count(error); return false }
        guard packet.type == .data else { drops.unexpectedPacketType += 1; return false }
        guard packet.destination == localID else { drops.forgedConnectionID += 1; return false }
        guard packet.isProtected == (protection != nil) else { drops.protectionMismatch += 1; return false }
        let number = packet.packetNumber
        // The replay window (RFC 9000 §12.3 / RFC 4303 §3.4.3 idea): a packet
        // number already received is dropped, protected or not.
        if received.contains(number) { drops.duplicatePacket += 1; return false }
        var body = packet.body
        if let protection {
            guard let length = protection.open(header: packet.header, packetNumber: number,
                                               sealed: body, into: openBuffer) else {
                drops.authenticationFailed += 1
                return false
            }
            body = UnsafeRawBufferPointer(start: openBuffer, count: length)
        }
        // Validate every frame before acting on any, so a bad packet changes nothing.
        var eliciting = false
        var reader = FrameReader(body)
        do {
            while let frame = try reader.next() {
                switch frame {
                case .ack(let ack):
                    guard ack.largest < nextPacketNumber else { drops.ackForUnsentPacket += 1; return false }
                case .data(let data):
                    eliciting = true
                    if data.guarantee == .delivery && data.sequence >= nextExpected &+ UInt64(configuration.receiveWindow) {
                        drops.beyondWindow += 1
                        return false
                    }
                case .ping, .close: eliciting = true
                case .padding: break
                }
            }
        } catch {
            drops.count(error)
            return false
        }
        received.insert(number)
        counters.packetsReceived += 1
        lastReceiveTime = now
        if number == received.largest {
            // RFC 9000 §13.2.1: acknowledge at once when a gap appears.
            if number > 0 && !received.contains(number - 1) { ackImmediately = true }
            largestReceivedTime = now
        } else {
            ackImmediately = true
        }
        reader = FrameReader(body)
        while let frame = try? reader.next() {
            switch frame {
            case .ack(let ack): onAck(ack, now: now)
            case .data(let data): onData(data, deliver: deliver)
            case .close: state = .closed
            case .ping, .padding: break
            }
        }
        if eliciting {
            if !ackNeeded || ackDeadline == .max { ackDeadline = now &+ configuration.maxAckDelay }
            ackNeeded = true
            ackElicitingUnacked += 1
        }
        return true
    }

    func onData(_ frame: DataFrame, deliver: (ReceivedMessage) -> Void) {
        switch frame.guarantee {
        case .none:
            counters.messagesDelivered += 1
            deliver(ReceivedMessage(guarantee: .none, sequence: 0, bytes: frame.payload))
        case .order:
            let base = frame.setBase
            let offset = Int(frame.setOffset)
            if !orderStarted || base > orderBase {
                for word in 0..<orderSeenWords { orderSeen[word] = 0 }
                orderSeenWords = 0
                orderBase = base
                orderStarted = true
            } else if base < orderBase || orderSeen[offset >> 6] & (1 << UInt64(offset & 63)) != 0 {
                drops.lateOrdered += 1
                return
            }
            orderSeen[offset >> 6] |= 1 << UInt64(offset & 63)
            orderSeenWords = max(orderSeenWords, (offset >> 6) + 1)
            counters.messagesDelivered += 1
            deliver(ReceivedMessage(guarantee: .order, sequence: frame.sequence, bytes: frame.payload))
        case .delivery:
            let sequence = frame.sequence
            let slot = Int(sequence & receiveMask)
            // The window check in `receive` keeps sequences within one lap of
            // the slots, so a non-empty slot means this very message was seen.
            guard sequence >= nextExpected, receiveState[slot] == 0 else {
                drops.duplicateMessage += 1
                return
            }
            if sequence == nextExpected {
                counters.messagesDelivered += 1
                deliver(ReceivedMessage(guarantee: .delivery, sequence: sequence, bytes: frame.payload))
                receiveState[slot] = 0
                nextExpected += 1
                drainReceived(deliver: deliver)
            } else if frame.setBase <= nextExpected {
                // Same set as the next expected message: it may be yielded now.
                counters.messagesDelivered += 1
                deliver(ReceivedMessage(guarantee: .delivery, sequence: sequence, bytes: frame.payload))
                receiveState[slot] = 2
                receiveHighest = max(receiveHighest, sequence + 1)
            } else {
                receiveSlots.store(slot, frame.payload)
                receiveSetBase[slot] = frame.setBase
                receiveState[slot] = 1
                receiveHighest = max(receiveHighest, sequence + 1)
            }
        }
    }

    /// Delivers buffered messages that became deliverable: the in-order run,
    /// then those of the set the next expected message belongs to.
    func drainReceived(deliver: (ReceivedMessage) -> Void) {
        while nextExpected < receiveHighest {
            let slot = Int(nextExpected & receiveMask)
            let state = receiveState[slot]
            if state == 0 { break }
            if state == 1 {
                counters.messagesDelivered += 1
                deliver(ReceivedMessage(guarantee: .delivery, sequence: nextExpected, bytes: receiveSlots.view(slot)))
            }
            receiveState[slot] = 0
            nextExpected += 1
        }
        var sequence = nextExpected + 1
        while sequence < receiveHighest {
            let slot = Int(sequence & receiveMask)
            if receiveState[slot] == 1 {
                // Set bases never decrease with the sequence: the first later set ends the scan.
                guard receiveSetBase[slot] <= nextExpected else { break }
                counters.messagesDelivered += 1
                deliver(ReceivedMessage(guarantee: .delivery, sequence: sequence, bytes: receiveSlots.view(slot)))
                receiveState[slot] = 2
            }
            sequence += 1
        }
    }

    func onAck(_ ack: AckFrame, now: UInt64) {
        if ack.deliveryLimit > peerDeliveryLimit {
            // A limit far beyond anything we could have in flight is absurd: count it and clamp.
            let sane = nextDeliverySequence &+ UInt64(1 << 31)
            if ack.deliveryLimit > sane { drops.absurdWindow += 1 }
            peerDeliveryLimit = min(ack.deliveryLimit, sane)
        } else if ack.deliveryLimit < peerDeliveryLimit {
            drops.absurdWindow += 1  // a window may not shrink below what was offered
        }
        var newlyAckedLargest = false
        var elicitingAcked = false
        var ranges = ack.ranges
        while let (low, high) = ranges.next() {
            guard high >= oldestUnacked else { continue }
            var number = max(low, oldestUnacked)
            let end = min(high, nextPacketNumber - 1)
            while number <= end {
                let index = Int(number & packetMask)
                if sentNumber[index] == number && sentInFlight[index] {
                    if number == ack.largest { newlyAckedLargest = true }
                    onPacketAcked(index)
                    elicitingAcked = true
                }
                number += 1
            }
        }
        if largestAcked.map({ ack.largest > $0 }) ?? true { largestAcked = ack.largest }
        // RFC 9002 §5.1: sample when the largest acknowledged is newly acked and ack-eliciting.
        if newlyAckedLargest {
            let sample = now &- sentTime[Int(ack.largest & packetMask)]
            let delay = min(UInt64(ack.ackDelayMicroseconds) * 1000, configuration.maxAckDelay)
            rtt.add(sample: sample, ackDelay: rtt.hasSamples ? delay : 0)
        }
        if elicitingAcked { ptoCount = 0 }
        while sendBase < nextUnsent && sendAcked[Int(sendBase & sendMask)] { sendBase += 1 }
        detectLosses(now: now)
        advanceOldest()
    }

    func onPacketAcked(_ index: Int) {
        sentInFlight[index] = false
        let bytes = Int(sentBytes[index])
        bytesInFlight -= bytes
        markMessages(index, acked: true)
        // RFC 9002 §7.3: no growth for packets sent before recovery began.
        if sentTime[index] > recoveryStart || recoveryStart == 0 {
            if congestionWindow < slowStartThreshold {
                congestionWindow += bytes                                   // slow start (§7.3.1)
            } else {
                congestionWindow += configuration.maxDatagramSize * bytes / congestionWindow  // §7.3.3
            }
        }
    }

    func markMessages(_ index: Int, acked: Bool) {
        let start = sentMessageStart[index]
        for position in start..<start + UInt64(sentMessageCount[index]) {
            let sequence = packetMessages[Int(position & packetMessagesMask)]
            guard sequence >= sendBase else { continue }
            let slot = Int(sequence & sendMask)
            if acked {
                sendAcked[slot] = true
            } else if !sendAcked[slot] && !sendQueued[slot] {
                sendQueued[slot] = true
                retransmitQueue[(retransmitHead + retransmitCount) % configuration.sendWindow] = sequence
                retransmitCount += 1
            }
        }
    }

    /// RFC 9002 §6.1: packets below the largest acknowledged are lost after the
    /// packet threshold or the time threshold; otherwise arm the loss timer.
    func detectLosses(now: UInt64) {
        lossTime = nil
        guard let largestAcked else { return }
        let basis = max(rtt.latest, rtt.smoothed)
        let lossDelay = max(basis * Self.timeThresholdNumerator / Self.timeThresholdDenominator, configuration.granularity)
        var number = oldestUnacked
        var congestion = false
        while number < largestAcked && number < nextPacketNumber {
            let index = Int(number & packetMask)
            if sentNumber[index] == number && sentInFlight[index] {
                let sent = sentTime[index]
                if largestAcked >= number + Self.packetThreshold || now >= sent &+ lossDelay {
                    sentInFlight[index] = false
                    bytesInFlight -= Int(sentBytes[index])
                    counters.packetsLost += 1
                    markMessages(index, acked: false)
                    if sent > recoveryStart { congestion = true }
                } else {
                    let due = sent &+ lossDelay
                    lossTime = min(lossTime ?? .max, due)
                }
            }
            number += 1
        }
        if congestion {
            // RFC 9002 §7.3.2 (NewReno): halve once per round trip, enter recovery.
            counters.congestionEvents += 1
            recoveryStart = now
            congestionWindow = max(congestionWindow / 2, Self.minimumWindowPackets * configuration.maxDatagramSize)
            slowStartThreshold = congestionWindow
        }
        advanceOldest()
    }

    func advanceOldest() {
        while oldestUnacked < nextPacketNumber {
            let index = Int(oldestUnacked & packetMask)
            if sentNumber[index] == oldestUnacked && sentInFlight[index] { break }
            oldestUnacked += 1
        }
    }
}
