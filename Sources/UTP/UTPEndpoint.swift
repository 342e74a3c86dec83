import Reactor

/// Accepts incoming µTP connections.
public protocol UTPListener: AnyObject {
    /// A SYN was accepted. Set `connection.delegate` here; the acceptor's STATE is
    /// already sent.
    func accepted(_ connection: UTPConnection)
}

/// The I/O-free half of a µTP socket: one UDP port, many connections. It parses
/// datagrams, finds the connection by (peer address, connection id), accepts SYNs
/// when a listener is set (within `maximumConnections`), answers packets of unknown
/// connections with ST_RESET (BEP 29; libutp and libtorrent do the same), and runs
/// the connections' timers. `UTPSocket` wires it to a reactor; tests drive it with
/// a simulated link.
///
/// ```swift
/// let endpoint = UTPEndpoint(configuration: .init(), output: link)
/// endpoint.receive(bytes, from: peer, now: now)     // for each datagram of a batch
/// endpoint.flushAcks(now: now)                      // once the batch is handled
/// endpoint.poll(now: now)                           // on a timer
/// ```
public final class UTPEndpoint {
    /// The configuration every connection of the endpoint uses.
    public let configuration: UTPConfiguration
    /// What the endpoint saw and dropped so far.
    public internal(set) var counters = UTPCounters()
    /// Hears incoming connections; nil refuses SYNs with a RESET. Held weakly.
    public weak var listener: (any UTPListener)?
    unowned(unsafe) let output: any UTPOutput

    var connections: [ConnectionKey: UTPConnection] = [:]
    var ackQueue: [UTPConnection] = []
    var closedQueue: [UTPConnection] = []
    var random: any RandomNumberGenerator
    var scratch: UnsafeMutableRawPointer

    /// `output` is not retained (it usually owns the endpoint). `random` picks
    /// connection ids and initial sequence numbers; pass a seeded one in tests.
    public init(configuration: UTPConfiguration = UTPConfiguration(), output: any UTPOutput,
                random: any RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.configuration = configuration
        self.output = output
        self.random = random
        connections.reserveCapacity(configuration.maximumConnections)
        ackQueue.reserveCapacity(configuration.maximumConnections)
        closedQueue.reserveCapacity(configuration.maximumConnections)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
    }

    deinit { scratch.deallocate() }

    /// Live connections.
    public var connectionCount: Int { connections.count }

    /// Opens a connection: a fresh receive id R (SYN carries R; we send with R + 1)
    /// and a random initial seq_nr (BEP 29 "connection setup").
    public func connect(to peer: SocketAddress, now: UInt64) throws(UTPError) -> UTPConnection {
        guard connections.count < configuration.maximumConnections else { throw .tooManyConnections }
        var receiveID = UInt16(truncatingIfNeeded: random.next())
        var attempts = 0
        while connections[ConnectionKey(peer, receiveID: receiveID)] != nil && attempts < 64 {
            receiveID = UInt16(truncatingIfNeeded: random.next())
            attempts += 1
        }
        let connection = UTPConnection(endpoint: self, peer: peer, receiveID: receiveID, sendID: receiveID &+ 1,
                                       initialSequence: UInt16(truncatingIfNeeded: random.next()), state: .synSent, now: now)
        connections[ConnectionKey(peer, receiveID: receiveID)] = connection
        connection.start(now: now)
        return connection
    }

    /// One datagram from `peer`. Bad input is counted, never trusted.
    public func receive(_ bytes: UnsafeRawBufferPointer, from peer: SocketAddress, now: UInt64) {
        counters.packetsReceived &+= 1
        let packet: Packet
        switch Packet.parse(bytes) {
        case .success(let parsed): packet = parsed
        case .failure(let reason):
            counters.count(reason)
            return
        }
        switch packet.type {
        case .syn:
            // The SYN carries the initiator's receive id R; we receive on R + 1.
            if let existing = connections[ConnectionKey(peer, receiveID: packet.connectionID &+ 1)] {
                existing.receive(packet, now: now)
                return
            }
            accept(packet, from: peer, now: now)
        case .reset:
            // A RESET may name our receive id or our send id (libutp checks all three).
            let id = packet.connectionID
            if let connection = connections[ConnectionKey(peer, receiveID: id)]
                ?? matching(peer, receiveID: id &+ 1, sendID: id)
                ?? matching(peer, receiveID: id &- 1, sendID: id) {
                connection.receive(packet, now: now)
            } else {
                counters.unknownConnection &+= 1
            }
        default:
            guard let connection = connections[ConnectionKey(peer, receiveID: packet.connectionID)] else {
                counters.unknownConnection &+= 1
                sendReset(to: peer, connectionID: packet.connectionID, ackNumber: packet.sequenceNumber, now: now)
                return
            }
            connection.receive(packet, now: now)
        }
        reapClosed()
    }

    /// Sends the deferred ACKs of the connections that received data since the last
    /// flush: one STATE per connection per batch ("call this each time the socket is
    /// drained", as libutp's utp_issue_deferred_acks).
    public func flushAcks(now: UInt64) {
        var index = 0
        while index < ackQueue.count {
            ackQueue[index].flushAck(now: now)
            index += 1
        }
        ackQueue.removeAll(keepingCapacity: true)
        reapClosed()
    }

    /// Runs every connection's timers.
    public func poll(now: UInt64) {
        for connection in connections.values { connection.poll(now: now) }
        reapClosed()
    }

    /// The network reported that nothing above `mtu` bytes reaches `host` (ICMP
    /// "fragmentation needed" / "packet too big", or a local EMSGSIZE, read from the
    /// socket's error queue). A path MTU belongs to the route to a host, not to a
    /// port (a local report names port 0), so every connection to that host hears it.
    public func pathTooBig(to host: SocketAddress, mtu: Int, now: UInt64) {
        counters.pathMTUReports &+= 1
        for connection in connections.values where connection.peer.isSameHost(as: host) {
            connection.pathTooBig(mtu: mtu, now: now)
        }
        reapClosed()
    }

    /// The earliest deadline of any connection (nil when idle).
    public var nextDeadline: UInt64? {
        var earliest: UInt64?
        for connection in connections.values {
            if let deadline = connection.nextDeadline { earliest = min(earliest ?? deadline, deadline) }
        }
        return earliest
    }

    // MARK: - Internal

    func accept(_ syn: Packet, from peer: SocketAddress, now: UInt64) {
        guard listener != nil, connections.count < configuration.maximumConnections else {
            counters.synRefused &+= 1
            sendReset(to: peer, connectionID: syn.connectionID, ackNumber: syn.sequenceNumber, now: now)
            return
        }
        let connection = UTPConnection(endpoint: self, peer: peer, receiveID: syn.connectionID &+ 1, sendID: syn.connectionID,
                                       initialSequence: UInt16(truncatingIfNeeded: random.next()), state: .connected, now: now)
        connections[ConnectionKey(peer, receiveID: connection.receiveID)] = connection
        connection.accept(syn, now: now)
        listener?.accepted(connection)
    }

    func matching(_ peer: SocketAddress, receiveID: UInt16, sendID: UInt16) -> UTPConnection? {
        guard let connection = connections[ConnectionKey(peer, receiveID: receiveID)], connection.sendID == sendID else { return nil }
        return connection
    }

    /// ST_RESET for a packet we cannot place (BEP 29): same connection id, ack_nr =
    /// its seq_nr.
    func sendReset(to peer: SocketAddress, connectionID: UInt16, ackNumber: UInt16, now: UInt64) {
        let header = PacketWriter.Header(type: .reset, connectionID: connectionID, timestamp: UInt32(truncatingIfNeeded: now / 1000),
                                         timestampDifference: 0, windowSize: 0,
                                         sequenceNumber: UInt16(truncatingIfNeeded: random.next()), ackNumber: ackNumber)
        let length = PacketWriter.write(header, into: scratch)
        counters.resetsSent &+= 1
        _ = transmit(UnsafeRawBufferPointer(start: scratch, count: length), to: peer)
    }

    func transmit(_ packet: UnsafeRawBufferPointer, to peer: SocketAddress, fragmentable: Bool = false) -> UTPSendResult {
        counters.packetsSent &+= 1
        let result = fragmentable ? output.transmitFragmentable(packet, to: peer) : output.transmit(packet, to: peer)
        if case .dropped = result { counters.sendFailures &+= 1 }
        return result
    }

    func queueAck(_ connection: UTPConnection) {
        ackQueue.append(connection)
    }

    func connectionClosed(_ connection: UTPConnection) {
        closedQueue.append(connection)
    }

    func reapClosed() {
        guard !closedQueue.isEmpty else { return }
        for connection in closedQueue {
            let key = ConnectionKey(connection.peer, receiveID: connection.receiveID)
            if connections[key] === connection { connections[key] = nil }
        }
        closedQueue.removeAll(keepingCapacity: true)
    }
}

extension SocketAddress {
    /// Same family, address and scope id; any port.
    func isSameHost(as other: SocketAddress) -> Bool {
        var mine = self
        var theirs = other
        mine.port = 0
        theirs.port = 0
        return mine == theirs
    }
}
