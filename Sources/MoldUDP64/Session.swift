/// The receiving side of one MoldUDP64 session as pure state: no I/O, no
/// clock of its own. Feed it packets with the current time; it delivers each
/// message exactly once, in sequence order, to its `consumer`, buffers what
/// arrives early, and tells a `Rerequester` which ranges are missing.
///
/// - Locks onto the first session id it sees, or the pinned one; packets of
///   another session are counted and reported once per new id, never merged.
/// - Starts at `startSequence` (default 1); earlier messages are ignored and
///   never requested.
/// - A missing range is declared a gap only after the reorder window: once
///   `reorderWindowPackets` further packets arrived, or `reorderWindow`
///   nanoseconds passed, since the packet (or heartbeat) that revealed it.
/// - Out-of-order data waits in a preallocated `ReorderBuffer` sized in bytes
///   (`bufferBytes`, default 64 MiB), searched and updated in O(log n); when it
///   is full the furthest-ahead data is dropped (and requested again later):
///   the next expected message is always delivered straight from its packet,
///   so progress never depends on buffer space.
/// - Packets that overlap what was delivered or buffered (partial or repeated
///   retransmissions, A/B copies) contribute only their new messages.
///
/// ```swift
/// let session = Session(configuration: .init(reorderWindow: Nanoseconds.milliseconds(2)))
/// session.consumer = handler
/// try session.receive(datagram.bytes, now: reactor.now)
/// ```
public final class Session {
    /// How a session receives. All sizes are fixed at init.
    public struct Configuration: Sendable {
        /// Accept only this session id; nil locks onto the first one seen.
        public var pinnedSession: SessionID?
        /// The first sequence number to deliver (MoldUDP64 numbers from 1).
        public var startSequence: UInt64
        /// Time a missing range may stay missing before it is declared a gap.
        public var reorderWindow: UInt64
        /// Packets that may arrive after the one revealing a missing range before
        /// it is declared a gap (0: declare at once). At most 4096.
        public var reorderWindowPackets: Int
        /// Bytes of out-of-order storage, slots and their metadata together
        /// (all allocated at init; the buffer never grows). Default 64 MiB:
        /// about 43,000 packets of 1,500 bytes, or several seconds of a busy
        /// feed while a big gap is recovered.
        public var bufferBytes: Int
        /// Bytes per buffer slot: the largest run of message blocks one slot
        /// holds (a longer packet spreads over several slots; a single message
        /// larger than a slot is not buffered but requested again in order).
        public var slotBytes: Int

        /// Session tuning; each argument is the property of the same name (times in
        /// nanoseconds, sizes in bytes). The buffer is allocated once, when the session is made.
        public init(pinnedSession: SessionID? = nil, startSequence: UInt64 = 1,
                    reorderWindow: UInt64 = 2_000_000, reorderWindowPackets: Int = 3,
                    maxBufferedPackets: Int? = nil, bufferBytes: Int = 64 << 20, slotBytes: Int = 1500) {
            self.pinnedSession = pinnedSession
            self.startSequence = startSequence
            self.reorderWindow = reorderWindow
            self.reorderWindowPackets = reorderWindowPackets
            self.slotBytes = slotBytes
            self.bufferBytes = bufferBytes
            if let maxBufferedPackets { self.maxBufferedPackets = maxBufferedPackets }
        }

        /// Out-of-order packets (runs of messages) the buffer holds: slots of
        /// `slotBytes` plus their metadata that fit `bufferBytes`. Setting it
        /// sets `bufferBytes`.
        public var maxBufferedPackets: Int {
            get { bufferBytes / (slotBytes + ReorderBuffer.metadataBytesPerSlot) }
            set { bufferBytes = newValue * (slotBytes + ReorderBuffer.metadataBytesPerSlot) }
        }
    }

    /// What `receive` did with a packet.
    public enum Disposition: Equatable, Sendable {
        /// Belongs to the current session (new, duplicate, or early).
        case accepted
        /// Another session's packet: counted and dropped.
        case foreignSession
        /// A retransmission before any live packet locked the session.
        case notLocked
    }

    /// The configuration the session was made with.
    public let configuration: Configuration
    /// The counters it updates (shared with the rerequester in a `Client`).
    public let counters: MoldCounters
    /// Who gets the messages. Held weakly so a consumer may own its session.
    public weak var consumer: (any MessageConsumer)?

    /// The session id locked onto, once known.
    public private(set) var current: SessionID?
    /// The next sequence number to deliver.
    public private(set) var nextExpected: UInt64
    /// One past the highest sequence number known to exist (from data,
    /// heartbeats and end of session).
    public private(set) var highestKnown: UInt64
    /// Missing sequence numbers below this are declared gaps (the reorder window
    /// has passed for them).
    public private(set) var declaredEnd: UInt64
    /// The end-of-session packet's next sequence number, once seen.
    public private(set) var endOfSession: UInt64?
    /// End of session was seen and everything before it delivered or reported lost.
    public private(set) var isFinished = false
    /// Valid packets of this session received (live and retransmitted).
    public private(set) var packetsReceived: UInt64 = 0
    /// Where the most recent live packet ended (data: one past its last
    /// message; heartbeat, end of session: its next sequence number). The
    /// `Rerequester` gives up on a range only once the live feed is past it,
    /// so a forged far-future number cannot make it give up on data that
    /// simply has not been sent yet.
    public private(set) var latestLiveEnd: UInt64 = 0

    let buffer: ReorderBuffer
    // The reorder window's pending revelations: (highest known, time, packet
    // index) in a preallocated ring; the oldest becomes declared first.
    let windowEnd: UnsafeMutablePointer<UInt64>
    let windowTime: UnsafeMutablePointer<UInt64>
    let windowPacket: UnsafeMutablePointer<UInt64>
    let windowCapacity: Int
    var windowHead = 0
    var windowCount = 0
    var lastReportedForeign: SessionID?

    /// A session expecting `configuration.startSequence` first (at least 1), with
    /// its reorder buffer allocated here. Set `consumer` before feeding packets.
    public init(configuration: Configuration = .init(), counters: MoldCounters = MoldCounters()) {
        precondition(configuration.startSequence >= 1, "MoldUDP64 sequence numbers start at 1")
        precondition(configuration.reorderWindowPackets >= 0 && configuration.reorderWindowPackets <= 4096,
                     "reorderWindowPackets must be 0...4096")
        precondition(configuration.maxBufferedPackets >= 1,
                     "bufferBytes must hold at least one slot of slotBytes + \(ReorderBuffer.metadataBytesPerSlot) bytes")
        precondition(configuration.slotBytes >= 3, "slotBytes must hold at least one framed byte")
        self.configuration = configuration
        self.counters = counters
        current = configuration.pinnedSession
        nextExpected = configuration.startSequence
        highestKnown = configuration.startSequence
        declaredEnd = configuration.startSequence
        buffer = ReorderBuffer(capacity: configuration.maxBufferedPackets, slotBytes: configuration.slotBytes)
        // Each packet adds at most one revelation and `advance` retires those
        // `reorderWindowPackets` packets old, so this many never overflow.
        windowCapacity = configuration.reorderWindowPackets + 1
        windowEnd = .allocate(filledWith: 0, count: windowCapacity)
        windowTime = .allocate(filledWith: 0, count: windowCapacity)
        windowPacket = .allocate(filledWith: 0, count: windowCapacity)
    }

    deinit {
        windowEnd.deallocate()
        windowTime.deallocate()
        windowPacket.deallocate()
    }

    /// Packets (runs) held in the reorder buffer now.
    public var bufferedPackets: Int { buffer.count }
    /// Bytes the reorder buffer allocated at init (at most `bufferBytes`).
    public var bufferAllocatedBytes: Int { buffer.allocatedBytes }

    // MARK: - Input

    /// Parses and receives one datagram; malformed ones are counted and thrown.
    @discardableResult
    public func receive(_ bytes: UnsafeRawBufferPointer, now: UInt64, retransmission: Bool = false) throws(PacketError) -> Disposition {
        let packet: Packet
        do { packet = try Packet(bytes) } catch {
            counters.malformed &+= 1
            throw error
        }
        return receive(packet, now: now, retransmission: retransmission)
    }

    /// Receives one validated packet. `retransmission` marks an answer from a
    /// re-request server (its messages count as recovered); the `Rerequester`
    /// passes answers on with it set.
    @discardableResult
    public func receive(_ packet: Packet, now: UInt64, retransmission: Bool = false) -> Disposition {
        let consumer = self.consumer
        guard let session = current else {
            // A live packet picks the session; an answer cannot (we never asked).
            guard !retransmission else { return .notLocked }
            current = packet.session
            return receive(packet, now: now, retransmission: retransmission)
        }
        guard packet.session == session else {
            counters.foreignSession &+= 1
            if lastReportedForeign != packet.session {
                lastReportedForeign = packet.session
                consumer?.foreignSession(packet.session, current: session)
            }
            return .foreignSession
        }
        packetsReceived &+= 1
        if !retransmission { latestLiveEnd = packet.nextSequenceNumber }
        switch packet.kind {
        case .heartbeat:
            // A heartbeat carries the next sequence number to be sent
            // (MoldUDP64 1.00, "Heartbeats"): anything below it that we lack is lost.
            reveal(packet.sequenceNumber, now: now)
        case .endOfSession:
            endOfSession = max(endOfSession ?? 0, packet.sequenceNumber)
            reveal(packet.sequenceNumber, now: now)
        case .data:
            accept(packet, now: now, recovered: retransmission, consumer: consumer)
            reveal(packet.nextSequenceNumber, now: now)
        }
        advance(now: now)
        checkFinished(consumer)
        return .accepted
    }

    /// Moves the reorder window's clock: missing ranges whose window passed
    /// become declared gaps. `receive` and `Rerequester.poll` call it.
    public func advance(now: UInt64) {
        let packetLimit = UInt64(configuration.reorderWindowPackets)
        var newDeclared = declaredEnd
        while windowCount > 0 {
            let revealedAt = windowTime[windowHead]
            let timeIsUp = now >= revealedAt && now - revealedAt >= configuration.reorderWindow
            let packetsAreUp = packetsReceived &- windowPacket[windowHead] >= packetLimit
            guard timeIsUp || packetsAreUp else { break }
            newDeclared = max(newDeclared, windowEnd[windowHead])
            windowHead = (windowHead + 1) % windowCapacity
            windowCount -= 1
        }
        declare(upTo: newDeclared)
    }

    /// When the oldest pending missing range's reorder window ends by time, if any.
    public var nextWindowDeadline: UInt64? {
        windowCount > 0 ? windowTime[windowHead] &+ configuration.reorderWindow : nil
    }

    // MARK: - Missing ranges

    /// The lowest missing range at or after `sequence` and below `limit`,
    /// or nil. A range is missing when it is neither delivered nor buffered.
    public func firstMissing(atOrAfter sequence: UInt64, below limit: UInt64) -> Range<UInt64>? {
        var cursor = max(sequence, nextExpected)
        var entry = buffer.firstEntry(endingAfter: cursor)
        while let slot = entry, buffer.first[slot] <= cursor {
            cursor = buffer.end(of: slot)
            entry = buffer.entry(after: slot)
        }
        guard cursor < limit else { return nil }
        let end = entry.map { min(limit, buffer.first[$0]) } ?? limit
        return cursor..<end
    }

    /// The lowest declared gap at or after `sequence`.
    public func firstGap(atOrAfter sequence: UInt64) -> Range<UInt64>? {
        firstMissing(atOrAfter: sequence, below: declaredEnd)
    }

    /// Gives up on the missing messages in `range`: they are reported to the
    /// consumer as lost at their place in the order, and delivery continues
    /// after them. Parts already delivered or buffered are left alone. When the
    /// buffer is full and the range lies beyond everything buffered, the marker
    /// cannot be kept and the range stays missing (returns false).
    @discardableResult
    public func markUnrecoverable(_ range: Range<UInt64>) -> Bool {
        var kept = true
        var cursor = range.lowerBound
        while let missing = firstMissing(atOrAfter: cursor, below: range.upperBound) {
            guard let slot = obtainSlot(for: missing.lowerBound) else { kept = false; break }
            buffer.first[slot] = missing.lowerBound
            buffer.messageCount[slot] = missing.upperBound - missing.lowerBound
            buffer.byteCount[slot] = 0
            buffer.flags[slot] = .lost
            buffer.insert(slot)
            counters.unrecoverable &+= missing.upperBound - missing.lowerBound
            cursor = missing.upperBound
        }
        noteHighWater()
        let consumer = self.consumer
        drain(consumer)
        checkFinished(consumer)
        return kept
    }

    /// Follows a new session (after `MessageConsumer.foreignSession`): drops all
    /// buffered and pending state and starts over at `startSequence`. Call
    /// `Rerequester.reset()` too.
    public func switchSession(to session: SessionID, startingAt startSequence: UInt64 = 1) {
        precondition(startSequence >= 1, "MoldUDP64 sequence numbers start at 1")
        current = session
        lastReportedForeign = nil
        nextExpected = startSequence
        highestKnown = startSequence
        declaredEnd = startSequence
        endOfSession = nil
        isFinished = false
        latestLiveEnd = 0
        windowHead = 0
        windowCount = 0
        buffer.removeAll()
    }

    // MARK: - Internals

    /// Delivers what is in order, stores what is early, counts what is old.
    func accept(_ packet: Packet, now: UInt64, recovered: Bool, consumer: (any MessageConsumer)?) {
        let end = packet.nextSequenceNumber
        let start = configuration.startSequence
        // Messages before the configured start are not wanted: not duplicates.
        let wantedFrom = max(packet.sequenceNumber, start)
        guard end > nextExpected else {
            if end > wantedFrom { counters.duplicates &+= end - wantedFrom }
            return
        }
        if packet.sequenceNumber <= nextExpected {
            if nextExpected > wantedFrom { counters.duplicates &+= nextExpected - wantedFrom }
            deliverNew(packet.messages, recovered: recovered, consumer: consumer)
            drain(consumer)
        } else {
            store(packet, recovered: recovered)
        }
    }

    /// Copies the parts of an early packet that no buffer entry covers.
    func store(_ packet: Packet, recovered: Bool) {
        let end = packet.nextSequenceNumber
        var messages = packet.messages.makeIterator()
        var cursor = packet.sequenceNumber
        while cursor < end {
            // Found afresh each piece: an eviction below may free the entry found before.
            let next = buffer.firstEntry(endingAfter: cursor)
            if let slot = next, buffer.first[slot] <= cursor {
                // Already buffered: skip those messages.
                let covered = min(buffer.end(of: slot), end)
                counters.duplicates &+= covered - cursor
                while cursor < covered { _ = messages.next(); cursor += 1 }
                continue
            }
            let pieceEnd = next.map { min(end, buffer.first[$0]) } ?? end
            while cursor < pieceEnd {
                guard let slot = obtainSlot(for: cursor) else {
                    counters.bufferDrops &+= end - cursor
                    noteHighWater()
                    return
                }
                let base = buffer.storage(of: slot)
                var used = 0
                var stored: UInt64 = 0
                let slotStart = cursor
                while cursor < pieceEnd {
                    // Peek the next block's size from the iterator's position.
                    let blockOffset = messages.byteOffset
                    let length = Int(UInt16(bigEndian: packet.bytes.baseAddress!.loadUnaligned(
                        fromByteOffset: Packet.headerLength + blockOffset, as: UInt16.self)))
                    guard used + 2 + length <= buffer.slotBytes else { break }
                    // Safety: the block (2 + length bytes) lies inside the validated
                    // packet, and the slot has room for it (checked just above).
                    base.advanced(by: used).copyMemory(
                        from: packet.bytes.baseAddress! + Packet.headerLength + blockOffset, byteCount: 2 + length)
                    used += 2 + length
                    stored += 1
                    cursor += 1
                    _ = messages.next()
                }
                if stored == 0 {
                    // One message larger than a slot: it cannot wait here. Skip
                    // it; it is requested again and delivered in order then.
                    buffer.release(slot)
                    counters.bufferDrops &+= 1
                    cursor += 1
                    _ = messages.next()
                    continue
                }
                buffer.first[slot] = slotStart
                buffer.messageCount[slot] = stored
                buffer.byteCount[slot] = Int32(used)
                buffer.flags[slot] = recovered ? .recovered : []
                buffer.insert(slot)
            }
        }
        noteHighWater()
    }

    /// A free slot for a run starting at `sequence`; when the buffer is full,
    /// evicts the furthest-ahead entry if it lies beyond `sequence`: the data
    /// right after the oldest gap unblocks delivery first, while the furthest
    /// data is the last needed (and the live feed or a later request brings
    /// it again). Nil when the new run is itself the furthest ahead.
    func obtainSlot(for sequence: UInt64) -> Int? {
        if let slot = buffer.allocate() { return slot }
        guard let last = buffer.highest, buffer.first[last] > sequence else { return nil }
        if !buffer.flags[last].contains(.lost) { counters.bufferDrops &+= buffer.messageCount[last] }
        buffer.remove(last)
        return buffer.allocate()
    }

    /// Delivers the messages of a run from `nextExpected` on (the run starts at
    /// or before it); the older ones were counted as duplicates by the caller.
    @inline(__always)
    func deliverNew(_ blocks: MessageBlocks, recovered: Bool, consumer: (any MessageConsumer)?) {
        var messages = blocks.makeIterator()
        while let message = messages.next() {
            guard message.sequence >= nextExpected else { continue }
            consumer?.deliver(sequence: message.sequence, message: message.bytes)
            nextExpected = message.sequence &+ 1
            counters.delivered &+= 1
            if recovered { counters.recovered &+= 1 }
        }
    }

    /// Delivers buffered runs that have become next in order.
    func drain(_ consumer: (any MessageConsumer)?) {
        while let slot = buffer.lowest {
            let first = buffer.first[slot]
            guard first <= nextExpected else { break }
            let end = first &+ buffer.messageCount[slot]
            let flags = buffer.flags[slot]
            if end > nextExpected {
                if flags.contains(.lost) {
                    consumer?.lost(firstSequence: nextExpected, count: end - nextExpected)
                    nextExpected = end
                } else {
                    counters.duplicates &+= nextExpected - first
                    deliverNew(buffer.blocks(of: slot), recovered: flags.contains(.recovered), consumer: consumer)
                }
            } else if !flags.contains(.lost) {
                counters.duplicates &+= end - first
            }
            buffer.remove(slot)
        }
    }

    /// Records that sequence numbers below `end` exist; starts their reorder window.
    func reveal(_ end: UInt64, now: UInt64) {
        guard end > highestKnown else { return }
        highestKnown = end
        if configuration.reorderWindowPackets == 0 || configuration.reorderWindow == 0 {
            declare(upTo: end)
            return
        }
        if windowCount == windowCapacity {
            // Cannot happen given the capacity above; if it did, declaring the
            // oldest early costs at most an early request, never a lost message.
            declare(upTo: windowEnd[windowHead])
            windowHead = (windowHead + 1) % windowCapacity
            windowCount -= 1
        }
        let slot = (windowHead + windowCount) % windowCapacity
        windowEnd[slot] = end
        windowTime[slot] = now
        windowPacket[slot] = packetsReceived
        windowCount += 1
    }

    /// Moves the declared boundary and counts the gaps that became declared.
    func declare(upTo end: UInt64) {
        guard end > declaredEnd else { return }
        let previous = declaredEnd
        declaredEnd = end
        var cursor = max(previous, nextExpected)
        while let missing = firstMissing(atOrAfter: cursor, below: end) {
            // A range that started below the old boundary was counted then.
            let continues = missing.lowerBound == previous && previous > nextExpected && !buffer.covers(previous - 1)
            if !continues { counters.gaps &+= 1 }
            cursor = missing.upperBound
        }
    }

    func noteHighWater() {
        if UInt64(buffer.count) > counters.bufferHighWater { counters.bufferHighWater = UInt64(buffer.count) }
    }

    func checkFinished(_ consumer: (any MessageConsumer)?) {
        guard !isFinished, let end = endOfSession, nextExpected >= end else { return }
        isFinished = true
        consumer?.endOfSession(nextSequence: end)
    }
}
