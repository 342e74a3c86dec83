import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// Where a `Publisher` puts its packets on the wire.
///
/// The seam between packing (I/O-free, in `Publisher`) and sending: a
/// `UDPPacketSink` sends with `UDPSocket.send`; tests collect packets instead.
public protocol PacketSink: AnyObject {
    /// Sends one complete packet (valid only during the call). Returns false
    /// when it could not be sent; the publisher counts that and goes on (the
    /// messages stay in the retransmission store).
    func send(_ packet: UnsafeRawBufferPointer) -> Bool
}

/// Sends packets to one destination (a multicast group or a unicast address)
/// on a socket configured by the caller (multicast TTL, interface, loopback).
///
/// Made with a reactor, the sink registers the socket and sends through the
/// reactor's backend (epoll: sendmsg, queued on EAGAIN; io_uring: SQEs), so a
/// full send buffer queues packets instead of losing them until the bounded
/// queue is full. Made with a socket alone, it calls sendto itself.
public final class UDPPacketSink: PacketSink, DatagramHandler {
    /// The socket packets leave from.
    public let socket: UDPSocket
    /// The multicast group (or unicast address) and port packets go to.
    public let destination: SocketAddress
    /// The errno of the last failed send (0: none, EAGAIN: send buffer or queue full).
    public var lastErrno: Int32 { lastFailure }
    var lastFailure: Int32 = 0
    /// The reactor the socket is registered with, and its token (reactor path).
    // Unretained: the reactor holds this sink as its socket's handler. Unmanaged
    // rather than `unowned(unsafe) Reactor?`, whose every load retains and
    // releases (1% of a loopback publisher in perf); `_withUnsafeGuaranteedRef`
    // calls it without either.
    let reactorReference: Unmanaged<Reactor>?
    /// The socket's registration when the sink was made with a reactor; nil for a
    /// sink that calls `sendto` itself.
    public var token: Token? { registered }
    // Internal storage, not `public private(set)`: whole-module optimization then
    // drops the dynamic exclusivity check from every packet's read of it.
    var registered: Token?
    /// The socket is connected to `destination`: sends carry no address.
    public let connected: Bool

    /// A sink that sends with `sendto` on `socket` itself, without a reactor: a full
    /// send buffer fails the send (counted by the publisher) instead of queuing it.
    public init(socket: UDPSocket, destination: SocketAddress) {
        self.socket = socket
        self.destination = destination
        reactorReference = nil
        connected = false
    }

    /// Registers `socket` with `reactor` (which then owns it) as a send-only
    /// socket (nothing it receives is read) and sends through it. The reactor
    /// must outlive the sink. With `connect`, the socket is
    /// connected to `destination` and packets go without an address: the kernel
    /// then keeps the route instead of looking it up per packet (a unicast or a
    /// multicast destination alike; the socket then hears only that address).
    public init(reactor: Reactor, socket: UDPSocket, destination: SocketAddress,
                options: SendOptions = SendOptions(), connect: Bool = false) throws(ReactorError) {
        self.socket = socket
        self.destination = destination
        reactorReference = Unmanaged.passUnretained(reactor)
        if connect { try socket.connect(to: destination) }
        connected = connect
        // Send-only (interest []): the reactor never reads the socket, and keeps
        // it unwatched except while sends wait for room, which spares the kernel
        // a wait-queue wakeup per packet sent (see Reactor.register).
        registered = try reactor.register(socket, options: ReceiveOptions(slotCount: 1, slotSize: 64), send: options,
                                     interest: [], handler: self)
    }

    /// Sends one packet to `destination`. Returns false when it was refused (queue
    /// full, kernel error: `lastErrno` says which); the publisher counts that in
    /// `sendFailures`.
    public func send(_ packet: UnsafeRawBufferPointer) -> Bool {
        guard let reactorReference, let token = registered else { return sendDirectly(packet) }
        // (Two calls, not `to: connected ? nil : destination`: that builds an
        // Optional copy of the 132-byte address per packet.)
        let result = connected
            ? reactorReference._withUnsafeGuaranteedRef { $0.send(token, packet) }
            : sendAddressed(packet, token, reactorReference)
        switch result {
        case .sent, .queued: return true
        case .refused(let reason):
            if case .failed(let error) = reason { lastFailure = error.errno } else { lastFailure = EAGAIN }
            return false
        }
    }

    // The paths that copy `destination` are out of line: inlined, their room
    // for the 132-byte address would be the frame of every connected send too.
    @inline(never)
    func sendAddressed(_ packet: UnsafeRawBufferPointer, _ token: Token, _ reactor: Unmanaged<Reactor>) -> SendResult {
        reactor._withUnsafeGuaranteedRef { $0.send(token, packet, to: destination) }
    }

    @inline(never)
    func sendDirectly(_ packet: UnsafeRawBufferPointer) -> Bool {
        do {
            switch try socket.send(packet, to: destination) {
            case .processed: return true
            case .wouldBlock:
                lastFailure = EAGAIN   // the socket's send buffer is full
                return false
            }
        } catch {
            // ENOBUFS, or ECONNREFUSED on a connected socket whose peer went away.
            lastFailure = error.errno
            return false
        }
    }

    /// (The sending socket receives nothing a publisher wants.)
    public func receive(_ batch: DatagramBatch, reactor: Reactor) {}

    /// A queued packet failed later (io_uring completion, epoll queue flush).
    public func failed(_ error: any Error, token: Token, reactor: Reactor) {
        if case .system(let system)? = error as? ReactorError { lastFailure = system.errno }
    }
}

/// How a publisher fakes loss on the wire, for demos and tests. Dropped data
/// packets are built, counted and kept in the retransmission store as if sent,
/// so receivers must recover them. Heartbeats and end-of-session packets are
/// never dropped (a run always ends).
public struct LossSimulation: Sendable {
    /// Data packets to drop, by number: 1 is the first data packet sent.
    public var dropPacketNumbers: [UInt64]
    /// The fraction of the other data packets to drop at random (0...1).
    public var dropFraction: Double
    /// Seeds the random drops, so a run can be repeated exactly.
    public var seed: UInt64

    /// Drops the data packets numbered in `dropPacketNumbers` (1 is the first),
    /// and a `dropFraction` (0...1) of the others, drawn from `seed`.
    public init(dropPacketNumbers: [UInt64] = [], dropFraction: Double = 0, seed: UInt64 = 1) {
        self.dropPacketNumbers = dropPacketNumbers
        self.dropFraction = dropFraction
        self.seed = seed
    }

    /// No loss: every packet is sent.
    public static let none = LossSimulation()
}

/// Why `Publisher.append` refused a message.
public enum PublisherError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message cannot fit one packet of `maxPacketSize` bytes.
    case messageTooLarge(length: Int, limit: Int)
    /// `endSession` was called; a new session needs a new publisher.
    case sessionEnded

    /// What was refused and what to do instead.
    public var description: String {
        switch self {
        case .messageTooLarge(let length, let limit):
            return "message of \(length) bytes does not fit one packet (at most \(limit) bytes of message); "
                + "raise Publisher.Configuration.maxPacketSize or split the message"
        case .sessionEnded:
            return "the session has ended; start a new Publisher for a new session"
        }
    }
}

/// The feed side of MoldUDP64: numbers messages, packs them into packets by size,
/// count and a flush deadline, keeps them for retransmission, sends heartbeats
/// when idle and an end-of-session mark at the end.
///
/// The packing core takes `now` as an argument and does no I/O of its own:
/// packets go to a `PacketSink`. Attached to a `Reactor`, one reactor timer
/// drives the flush deadline and the heartbeats. Appending a message (copy into
/// the packet and the store, send when full) allocates nothing.
///
/// ```swift
/// let sink = UDPPacketSink(socket: socket, destination: try SocketAddress("239.1.1.1", port: 41000))
/// let publisher = Publisher(Publisher.Configuration(session: try SessionID(validating: "TODAY")),
///                           sink: sink, store: RetransmissionStore())
/// try publisher.attach(to: reactor)
/// let sequence = try publisher.append(messageBytes)      // uses reactor.now
/// try reactor.run()
/// ```
public final class Publisher: TimerHandler {
    /// The publisher's session, packing, timing and loss simulation.
    public struct Configuration: Sendable {
        /// The session name (10 ASCII bytes) every packet carries.
        public var session: SessionID
        /// The largest UDP payload to send. 1400 stays under a 1500-byte Ethernet
        /// MTU with IPv4/IPv6 and UDP headers to spare.
        public var maxPacketSize: Int = 1400
        /// The most messages in one packet (at most 0xFFFE).
        public var maxMessagesPerPacket: Int = PacketWriter.maxMessageCount
        /// How long a packet may wait for more messages after its first one, in
        /// nanoseconds: 0 sends every message at once (lowest latency); more packs
        /// more messages per packet. Default 100 µs (one timer tick).
        public var flushDelay: UInt64 = 100_000
        /// Heartbeat after this much silence, in nanoseconds (0: none). Default 1 s.
        public var heartbeatInterval: UInt64 = 1_000_000_000
        /// The sequence number of the first message (MoldUDP64 numbers from 1).
        public var firstSequenceNumber: UInt64 = 1
        /// Packets to drop on purpose, to exercise receivers' recovery. Default: none.
        public var loss: LossSimulation = .none

        /// A configuration for `session` with the defaults above.
        public init(session: SessionID) { self.session = session }
    }

    /// What the publisher did.
    public struct Counters: Sendable, Equatable {
        /// Messages appended.
        public var messages: UInt64 = 0
        /// Data packets completed (sent or dropped by the loss simulation).
        public var dataPackets: UInt64 = 0
        /// Data packets dropped on purpose by the loss simulation.
        public var dataPacketsDropped: UInt64 = 0
        /// Heartbeats sent after silence (`heartbeatInterval`).
        public var heartbeats: UInt64 = 0
        /// End-of-session packets sent (`endSession`).
        public var endOfSessionPackets: UInt64 = 0
        /// Packets handed to the sink successfully, and their bytes.
        public var packetsSent: UInt64 = 0
        /// The bytes of the packets in `packetsSent`.
        public var bytesSent: UInt64 = 0
        /// Packets the sink could not send (full send buffer, ENOBUFS).
        public var sendFailures: UInt64 = 0
    }

    /// The configuration the publisher was made with.
    public let configuration: Configuration
    /// Where sent messages are kept for retransmission; nil when the publisher keeps
    /// none (no retransmission server can answer for it).
    public let store: RetransmissionStore?
    /// Where packets go (a `UDPPacketSink`, or a test's sink).
    public let sink: any PacketSink
    /// What the publisher did so far.
    public var counters: Counters { tally }
    /// The sequence number the next appended message gets.
    public var nextSequenceNumber: UInt64 { next }
    /// True once `endSession` ran: `append` refuses further messages.
    public var hasEnded: Bool { ended }
    /// The largest message `append` accepts.
    public let largestMessage: Int

    // Mutable state is internal, not `public private(set)`: with whole-module
    // optimization the compiler then proves accesses never overlap and drops the
    // dynamic exclusivity checks (swift_beginAccess) from the per-message path.
    var tally = Counters()
    var next: UInt64
    var ended = false
    var writer: PacketWriter
    let packetBuffer: UnsafeMutableRawBufferPointer
    let controlBuffer: UnsafeMutableRawBufferPointer
    var pending = false
    var flushDeadline: UInt64 = 0
    /// When the last packet went out (or was dropped on purpose); 0 before any,
    /// so the first poll announces the session with a heartbeat.
    var lastSendTime: UInt64 = 0
    // Loss simulation state.
    let dropNumbers: [UInt64]
    var dropCursor = 0
    var dropNext = 0
    var random: SplitMix64
    // Reactor wiring: one timer armed for the earliest deadline.
    weak var reactor: Reactor?
    var timer = TimerHandle.invalid
    var armedDeadline = UInt64.max

    /// A publisher for `configuration`'s session that sends through `sink` and, with a
    /// `store`, keeps every message for retransmission. Attach it to a reactor (or call
    /// `poll(now:)`) for its flush and heartbeat timers.
    ///
    /// - Parameters:
    ///   - configuration: session, packing limits, heartbeat interval, simulated loss.
    ///   - sink: where finished packets go (a UDP socket, or memory in tests).
    ///   - store: where sent messages are kept for retransmission; its next
    ///     sequence number must be the configuration's first one.
    public init(_ configuration: Configuration, sink: any PacketSink, store: RetransmissionStore? = nil) {
        precondition(configuration.maxPacketSize >= PacketWriter.headerSize + PacketWriter.blockHeaderSize,
                     "maxPacketSize must be at least 22 bytes (header and one block)")
        precondition(configuration.firstSequenceNumber >= 1, "MoldUDP64 sequence numbers start at 1")
        if let store {
            precondition(store.nextSequenceNumber == configuration.firstSequenceNumber,
                         "the store continues at \(store.nextSequenceNumber) but the publisher starts at \(configuration.firstSequenceNumber); reset the store")
        }
        self.configuration = configuration
        self.sink = sink
        self.store = store
        next = configuration.firstSequenceNumber
        largestMessage = PacketWriter.largestMessage(limit: configuration.maxPacketSize)
        packetBuffer = .allocate(byteCount: configuration.maxPacketSize, alignment: 16)
        controlBuffer = .allocate(byteCount: PacketWriter.headerSize, alignment: 16)
        writer = PacketWriter(buffer: packetBuffer, messageLimit: configuration.maxMessagesPerPacket)
        dropNumbers = configuration.loss.dropPacketNumbers.sorted()
        random = SplitMix64(seed: configuration.loss.seed)
    }

    deinit {
        packetBuffer.deallocate()
        controlBuffer.deallocate()
    }

    // MARK: - The packing core (no I/O of its own, time passed in)

    /// Numbers `message`, adds it to the packet being built and to the store,
    /// and sends the packet when nothing more fits (or at once when
    /// `flushDelay` is 0). Returns the message's sequence number.
    @discardableResult
    public func append(_ message: UnsafeRawBufferPointer, now: UInt64) throws(PublisherError) -> UInt64 {
        guard !ended else { throw .sessionEnded }
        guard message.count <= largestMessage else { throw .messageTooLarge(length: message.count, limit: largestMessage) }
        if pending && !writer.fits(length: message.count) { flush(now: now) }
        let startsPacket = !pending
        if startsPacket {
            writer.begin(session: configuration.session, sequenceNumber: next)
            flushDeadline = now &+ configuration.flushDelay
            pending = true
        }
        let appended = writer.append(message)
        assert(appended, "a message within largestMessage always fits an empty packet")
        store?.append(message)
        let sequence = next
        next += 1
        tally.messages &+= 1
        if configuration.flushDelay == 0 || !writer.fits(length: 0) {
            flush(now: now)
        } else if startsPacket {
            arm(flushDeadline)
        }
        return sequence
    }

    /// Sends the packet being built, if any.
    public func flush(now: UInt64) {
        guard pending else { return }
        pending = false
        tally.dataPackets &+= 1
        if shouldDrop(packetNumber: tally.dataPackets) {
            tally.dataPacketsDropped &+= 1
        } else {
            transmit(writer.packet)
        }
        lastSendTime = now
    }

    /// Does what is due at `now`: sends a packet whose flush deadline passed,
    /// and a heartbeat (after the end: the end-of-session packet again) after
    /// `heartbeatInterval` of silence. Returns how many packets it sent.
    @discardableResult
    public func poll(now: UInt64) -> Int {
        var work = 0
        if pending && now >= flushDeadline {
            flush(now: now)
            work += 1
        }
        let interval = configuration.heartbeatInterval
        if !pending && interval > 0 && now >= lastSendTime &+ interval {
            sendControl(count: ended ? PacketWriter.endOfSessionCount : PacketWriter.heartbeatCount, now: now)
            work += 1
        }
        return work
    }

    /// Sends what is pending, then the end-of-session packet (count 0xFFFF with
    /// the next sequence number). Later heartbeats repeat it, so a receiver that
    /// lost it still learns the session ended. `append` then throws `.sessionEnded`.
    public func endSession(now: UInt64) {
        flush(now: now)
        ended = true
        sendControl(count: PacketWriter.endOfSessionCount, now: now)
    }

    /// The earliest time `poll` has something to do (UInt64.max: never).
    public var nextDeadline: UInt64 {
        var deadline = UInt64.max
        if pending { deadline = flushDeadline }
        if !pending && configuration.heartbeatInterval > 0 {
            deadline = min(deadline, lastSendTime &+ configuration.heartbeatInterval)
        }
        return deadline
    }

    /// Drops the next `count` data packets (on top of the configured loss).
    public func dropNextPackets(_ count: Int) { dropNext += max(0, count) }

    // MARK: - Reactor wiring

    /// Drives this publisher's flush deadlines and heartbeats with a timer on
    /// `reactor` (the reactor's thread only). The convenience methods without
    /// `now` use `reactor.now`.
    public func attach(to reactor: Reactor) throws(ReactorError) {
        detach()
        self.reactor = reactor
        let deadline = nextDeadline
        if deadline != .max {
            timer = try reactor.schedule(at: deadline, handler: self)
            armedDeadline = deadline
        }
    }

    /// Cancels the timer; the publisher no longer runs by itself.
    public func detach() {
        if let reactor, armedDeadline != .max { reactor.cancel(timer) }
        armedDeadline = .max
        reactor = nil
    }

    /// `append(_:now:)` at the attached reactor's `now`.
    @discardableResult
    public func append(_ message: UnsafeRawBufferPointer) throws(PublisherError) -> UInt64 {
        try append(message, now: reactor?.now ?? lastSendTime)
    }

    /// `endSession(now:)` at the attached reactor's `now`.
    public func endSession() { endSession(now: reactor?.now ?? lastSendTime) }

    /// The publisher's timer: flushes a packet whose `flushDelay` ran out and sends
    /// heartbeats after silence.
    public func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        armedDeadline = .max
        poll(now: now)
        arm(nextDeadline)
    }

    // MARK: - Internals

    /// Makes sure the timer fires by `deadline`. One timer at most is armed:
    /// one that fires early (a later send moved the heartbeat back) just re-arms.
    func arm(_ deadline: UInt64) {
        guard let reactor, deadline < armedDeadline else { return }
        if armedDeadline != .max { reactor.cancel(timer) }
        do {
            timer = try reactor.schedule(at: deadline, handler: self)
            armedDeadline = deadline
        } catch {
            // Only timer capacity exhaustion; the next append or attach re-arms.
            armedDeadline = .max
        }
    }

    func sendControl(count: UInt16, now: UInt64) {
        _ = PacketWriter.writeHeader(into: controlBuffer, session: configuration.session,
                                     sequenceNumber: next, count: count)
        if count == PacketWriter.endOfSessionCount {
            tally.endOfSessionPackets &+= 1
        } else {
            tally.heartbeats &+= 1
        }
        transmit(UnsafeRawBufferPointer(controlBuffer))
        lastSendTime = now
    }

    func transmit(_ packet: UnsafeRawBufferPointer) {
        if sink.send(packet) {
            tally.packetsSent &+= 1
            tally.bytesSent &+= UInt64(packet.count)
        } else {
            tally.sendFailures &+= 1
        }
    }

    func shouldDrop(packetNumber: UInt64) -> Bool {
        if dropNext > 0 {
            dropNext -= 1
            return true
        }
        while dropCursor < dropNumbers.count && dropNumbers[dropCursor] < packetNumber { dropCursor += 1 }
        if dropCursor < dropNumbers.count && dropNumbers[dropCursor] == packetNumber { return true }
        let fraction = configuration.loss.dropFraction
        guard fraction > 0 else { return false }
        return random.nextUnit() < fraction
    }
}
