import Reactor

/// Hears the connections of an `EndpointServer`.
public protocol EndpointServerDelegate: AnyObject {
    /// A message on connection `id`; `message.bytes` is valid only during this call.
    func server(_ server: EndpointServer, connection id: UInt64, received message: ReceivedMessage)
    /// A handshake completed: connection `id` exists now.
    func server(_ server: EndpointServer, accepted id: UInt64)
    /// Connection `id` closed or its peer went silent (idle timeout); it is gone.
    func server(_ server: EndpointServer, ended id: UInt64, state: Connection.State)
}

extension EndpointServerDelegate {
    /// Default: nothing.
    public func server(_ server: EndpointServer, accepted id: UInt64) {}
    /// Default: nothing.
    public func server(_ server: EndpointServer, ended id: UInt64, state: Connection.State) {}
}

/// Many ReliableUDP connections on one UDP port: datagrams are routed by the
/// destination connection id and must come from the address that completed
/// the handshake. A hello is answered with a stateless cookie (nothing is
/// allocated for it); a connection is allocated only for a hello that echoes
/// a valid, fresh cookie, and only below `maxConnections`. A connection whose
/// peer is silent for `Configuration.deadPeerTimeout` (the idle timeout) is
/// removed.
///
/// ```swift
/// let server = try EndpointServer(reactor: reactor, socket: UDPSocket.bound(to: address), delegate: self)
/// // in server(_:connection:received:):
/// try server.send(to: id, .delivery, message.bytes)
/// ```
public final class EndpointServer: DatagramHandler, TimerHandler {
    /// What the server's handshakes and routing did.
    public struct Counters: Sendable, Equatable {
        /// First hellos received (answered with a cookie, no state kept).
        public var hellos: UInt64 = 0
        /// Cookie answers sent.
        public var cookiesSent: UInt64 = 0
        /// helloWithCookie with a wrong, stale or other-address cookie.
        public var cookiesRejected: UInt64 = 0
        /// Connections made (a valid cookie came back).
        public var accepted: UInt64 = 0
        /// Valid handshakes refused because `maxConnections` were open.
        public var refusedAtLimit: UInt64 = 0
        /// Data packets for a connection id that does not exist.
        public var unknownConnection: UInt64 = 0
        /// Data packets for a known id from another address.
        public var wrongSource: UInt64 = 0
        /// Datagrams that do not decode, or a handshake packet a server never receives.
        public var malformed: UInt64 = 0
        /// Connections that closed or whose peer went silent, and were removed.
        public var ended: UInt64 = 0
        /// Datagrams the socket refused to send.
        public var sendErrors: UInt64 = 0
        /// Datagrams the full send queue refused (kept and sent on `writable`).
        public var sendsBlocked: UInt64 = 0
        /// All counters at zero.
        public init() {}
    }

    final class Entry {
        let connection: Connection
        let address: SocketAddress
        let clientID: UInt64
        var timer = TimerHandle.invalid
        var timerDeadline: UInt64 = .max
        var touched = false
        var blocked = false
        init(connection: Connection, address: SocketAddress, clientID: UInt64) {
            self.connection = connection
            self.address = address
            self.clientID = clientID
        }
    }

    struct ClientKey: Hashable {
        let address: SocketAddress
        let clientID: UInt64
    }

    /// The reactor whose thread drives the server; use the server only there.
    public let reactor: Reactor
    /// The socket every connection shares (registered with `reactor`).
    public let socket: UDPSocket
    /// The sizes and timings of every connection.
    public let configuration: Configuration
    /// The most connections at once; further valid handshakes are refused and counted.
    public let maxConnections: Int
    /// What the handshakes and routing did so far.
    public private(set) var counters = Counters()
    /// The socket's registration with `reactor`.
    public private(set) var token = Token(slot: .max, generation: 0)
    /// Hears new connections, messages and ends. Held weakly.
    public weak var delegate: (any EndpointServerDelegate)?
    let cookies: CookieJar
    let protection: ((UInt64) -> any PacketProtection)?
    var entries: [UInt64: Entry] = [:]
    var byClient: [ClientKey: UInt64] = [:]
    var touched: [Entry] = []
    /// Connections holding a datagram the full send queue refused, flushed on `writable`.
    var blocked: [Entry] = []
    var inBatch = false
    let handshakeBuffer: UnsafeMutableRawPointer
    var generator = SystemRandomNumberGenerator()

    /// `protection`, when set, makes the sealing/opening object for each new
    /// connection (given its id). `sendQueue`: datagrams that may wait for the
    /// kernel (`SendOptions.queueCapacity`); sends go through the reactor.
    public init(reactor: Reactor, socket: UDPSocket, configuration: Configuration = Configuration(),
                maxConnections: Int = 1024, sendQueue: Int = 1024, cookies: CookieJar = .random(),
                protection: ((UInt64) -> any PacketProtection)? = nil,
                delegate: (any EndpointServerDelegate)?) throws {
        try configuration.validate()
        self.reactor = reactor
        self.socket = socket
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.cookies = cookies
        self.protection = protection
        self.delegate = delegate
        handshakeBuffer = .allocate(byteCount: WireFormat.helloPaddedLength, alignment: 8)
        entries.reserveCapacity(maxConnections)
        byClient.reserveCapacity(maxConnections)
        touched.reserveCapacity(maxConnections)
        blocked.reserveCapacity(maxConnections)
        var options = ReceiveOptions()
        options.slotSize = max(options.slotSize, configuration.maxDatagramSize)
        let sendOptions = SendOptions(queueCapacity: sendQueue, slotSize: max(2048, configuration.maxDatagramSize))
        token = try reactor.register(socket, options: options, send: sendOptions, handler: self)
    }

    deinit { handshakeBuffer.deallocate() }

    /// Connections open now.
    public var connectionCount: Int { entries.count }

    /// The connection `id`, to read its counters or state.
    public func connection(_ id: UInt64) -> Connection? { entries[id]?.connection }

    /// Queues a message on connection `id`; sent at the end of the current
    /// receive batch, or at once outside one.
    public func send(to id: UInt64, _ guarantee: Guarantee, _ bytes: UnsafeRawBufferPointer) throws(SendError) {
        guard let entry = entries[id] else { throw .closed }
        try entry.connection.send(guarantee, bytes, now: reactor.now)
        if inBatch { touch(entry) } else { flush(entry, now: reactor.now) }
    }

    /// Routes each datagram to its connection by destination id (handshakes to the
    /// cookie logic), then flushes every connection the batch touched, once.
    public func receive(_ batch: DatagramBatch, reactor: Reactor) throws {
        let now = reactor.now
        inBatch = true
        for datagram in batch { route(datagram, now: now) }
        inBatch = false
        for entry in touched {
            entry.touched = false
            flush(entry, now: now)
        }
        touched.removeAll(keepingCapacity: true)
    }

    /// A connection's timer (its id is the tag): loss detection, acknowledgements,
    /// heartbeats, idle timeout; an ended connection is removed here.
    public func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        guard let entry = entries[tag] else { return }
        entry.timerDeadline = .max
        entry.connection.maintain(now: now) { transmit($0, to: entry) }
        settle(entry, id: tag)
    }

    func route(_ datagram: Datagram, now: UInt64) {
        let packet: PacketView
        do { packet = try PacketView(datagram.bytes) } catch { counters.malformed += 1; return }
        switch packet.type {
        case .data:
            guard let entry = entries[packet.destination] else { counters.unknownConnection += 1; return }
            guard datagram.isFrom(entry.address) else { counters.wrongSource += 1; return }
            entry.connection.receive(datagram.bytes, now: now) { message in
                delegate?.server(self, connection: packet.destination, received: message)
            }
            touch(entry)
        case .hello, .helloWithCookie:
            handshake(packet, datagram, now: now)
        case .cookie, .welcome:
            counters.malformed += 1
        }
    }

    func handshake(_ packet: PacketView, _ datagram: Datagram, now: UInt64) {
        guard let message = try? Handshake.decode(packet) else { counters.malformed += 1; return }
        let address = datagram.sourceAddress
        let seconds = now / 1_000_000_000
        switch message {
        case .hello(let source, _):
            counters.hellos += 1
            let cookie = cookies.cookie(address: address, source: source, timestamp: seconds)
            reply(.cookie(timestamp: seconds, cookie: cookie), to: source, datagram)
            counters.cookiesSent += 1
        case .helloWithCookie(let source, let window, let timestamp, let cookie):
            guard cookies.isValid(cookie, address: address, source: source, timestamp: timestamp, nowSeconds: seconds),
                  let peer = datagram.source else {
                counters.cookiesRejected += 1
                return
            }
            let key = ClientKey(address: peer, clientID: source)
            if let existing = byClient[key] {
                // Our welcome was lost: say it again.
                reply(.welcome(source: existing, window: UInt32(configuration.receiveWindow)), to: source, datagram)
                return
            }
            guard entries.count < maxConnections else { counters.refusedAtLimit += 1; return }
            var id = generator.next() | 1
            while entries[id] != nil { id = generator.next() | 1 }
            guard let connection = try? Connection(configuration: configuration, localID: id, peerID: source,
                                                   now: now, peerReceiveWindow: Int(window)) else { return }
            connection.protection = protection?(id)
            let entry = Entry(connection: connection, address: peer, clientID: source)
            entries[id] = entry
            byClient[key] = id
            counters.accepted += 1
            reply(.welcome(source: id, window: UInt32(configuration.receiveWindow)), to: source, datagram)
            delegate?.server(self, accepted: id)
            settle(entry, id: id)
        default:
            counters.malformed += 1
        }
    }

    func reply(_ message: Handshake.Message, to destination: UInt64, _ datagram: Datagram) {
        let length = Handshake.encode(message, destination: destination, into: handshakeBuffer)
        let address = datagram.sourceAddress
        guard let raw = address.baseAddress else { return }
        // A refused handshake answer is not kept: the client repeats its hello.
        if case .refused = reactor.send(token, UnsafeRawBufferPointer(start: handshakeBuffer, count: length),
                                        toRaw: raw, length: address.count) {
            counters.sendErrors += 1
        }
    }

    func touch(_ entry: Entry) {
        guard !entry.touched else { return }
        entry.touched = true
        touched.append(entry)
    }

    func flush(_ entry: Entry, now: UInt64) {
        entry.connection.flush(now: now) { transmit($0, to: entry) }
        settle(entry, id: entry.connection.localID)
    }

    /// Removes an ended connection, or re-arms its timer at its next deadline.
    func settle(_ entry: Entry, id: UInt64) {
        let connection = entry.connection
        guard connection.state == .open, let deadline = connection.nextDeadline else {
            _ = reactor.cancel(entry.timer)
            entries[id] = nil
            byClient[ClientKey(address: entry.address, clientID: entry.clientID)] = nil
            counters.ended += 1
            delegate?.server(self, ended: id, state: connection.state)
            return
        }
        guard deadline != entry.timerDeadline else { return }
        if reactor.timers.isActive(entry.timer) {
            _ = reactor.timers.reschedule(entry.timer, at: deadline)
        } else if let handle = try? reactor.schedule(at: deadline, tag: id, handler: self) {
            entry.timer = handle
        }
        entry.timerDeadline = deadline
    }

    /// One datagram to the entry's peer through the reactor (sent, or queued
    /// when the kernel would block); false when the queue is full too: the
    /// connection keeps it and `writable` flushes the entry.
    func transmit(_ datagram: UnsafeRawBufferPointer, to entry: Entry) -> Bool {
        switch reactor.send(token, datagram, to: entry.address) {
        case .sent, .queued:
            return true
        case .refused(.queueFull):
            counters.sendsBlocked += 1
            if !entry.blocked {
                entry.blocked = true
                blocked.append(entry)
            }
            return false
        case .refused:
            counters.sendErrors += 1
            return true
        }
    }

    /// The send queue drained: flush the connections that were held back, in
    /// the order they were refused.
    public func writable(token: Token, reactor: Reactor) {
        let now = reactor.now
        // Entries refused again during these flushes are appended past `pending`
        // and wait for the next `writable`.
        let pending = blocked.count
        for index in 0..<pending {
            let entry = blocked[index]
            entry.blocked = false
            if entries[entry.connection.localID] === entry { flush(entry, now: now) }
        }
        blocked.removeFirst(pending)
    }
}
