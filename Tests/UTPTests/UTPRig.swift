import Reactor
import TestSupport
@testable import UTP

/// Puts an endpoint's packets on a simulated link.
final class LinkOutput: UTPOutput {
    let link: SimulatedLink
    var now: UInt64 = 0
    var sent: [[UInt8]] = []
    var record = false
    /// Refuse datagrams above this many UDP payload bytes with EMSGSIZE, as the kernel
    /// does (DF set) once it knows a smaller path MTU.
    var refuseAbove: Int?
    /// A router with a next-hop MTU of this many bytes of IP packet: bigger datagrams
    /// are dropped (DF set) and an ICMP "fragmentation needed" naming it comes back
    /// (queued in `icmpReports` for the rig to hand to the endpoint).
    var routerMTU: Int?
    var icmpReports: [Int] = []
    /// What the kernel says its route MTU towards the peer is (nil: unknown).
    var routeMTU: Int?
    init(link: SimulatedLink) { self.link = link }
    func pathMTU(to address: SocketAddress) -> Int? { routeMTU }
    /// DF clear: the router fragments it, so it passes `routerMTU`.
    var fragmentableSends = 0
    func transmitFragmentable(_ packet: UnsafeRawBufferPointer, to address: SocketAddress) -> UTPSendResult {
        fragmentableSends += 1
        link.send(Array(packet), now: now)
        return .sent
    }
    func transmit(_ packet: UnsafeRawBufferPointer, to address: SocketAddress) -> UTPSendResult {
        if let refuseAbove, packet.count > refuseAbove { return .tooBig(pathMTU: 0) }
        if let routerMTU, packet.count + 28 > routerMTU {
            icmpReports.append(routerMTU)
            return .sent
        }
        let bytes = Array(packet)
        if record { sent.append(bytes) }
        link.send(bytes, now: now)
        return .sent
    }
}

/// Collects what a connection delivers; optionally sends a source buffer.
final class StreamApp: UTPConnectionDelegate, UTPListener {
    var received: [UInt8] = []
    var connectedCount = 0
    var endOfStream = false
    var closedCount = 0
    var closedError: UTPError?
    var connection: UTPConnection?
    var source: [UInt8] = []
    var sourceOffset = 0
    var shutdownWhenSent = true
    /// Write `source` over and over, never ending (window-limited flows).
    var endless = false
    /// Count received bytes without keeping them.
    var discard = false
    var receivedCount = 0

    func accepted(_ connection: UTPConnection) {
        connection.delegate = self
        self.connection = connection
    }
    func connected(_ connection: UTPConnection) { connectedCount += 1 }
    func received(_ bytes: UnsafeRawBufferPointer, on connection: UTPConnection) {
        receivedCount += bytes.count
        if !discard { received.append(contentsOf: bytes) }
    }
    func endOfStream(_ connection: UTPConnection) { endOfStream = true }
    func closed(_ connection: UTPConnection, error: UTPError?) { closedCount += 1; closedError = error }
    func writable(_ connection: UTPConnection) {}

    /// Writes as much of `source` as the connection takes; FIN after the last byte.
    func pump(now: UInt64) {
        guard let connection, connection.state == .connected else { return }
        while sourceOffset < source.count {
            let accepted = source[sourceOffset...].withUnsafeBytes { connection.write($0, now: now) }
            if accepted == 0 { break }
            sourceOffset += accepted
            if endless && sourceOffset == source.count { sourceOffset = 0 }
        }
        if sourceOffset == source.count && shutdownWhenSent { connection.shutdown(now: now) }
    }
}

/// Two endpoints joined by two seeded simulated links, on a fake clock.
final class UTPRig {
    var now: UInt64 = 1_000_000_000
    let clientToServer: SimulatedLink
    let serverToClient: SimulatedLink
    let clientOutput: LinkOutput
    let serverOutput: LinkOutput
    let client: UTPEndpoint
    let server: UTPEndpoint
    let clientAddress = try! SocketAddress("10.0.0.1", port: 4000)
    let serverAddress = try! SocketAddress("10.0.0.2", port: 5000)
    let clientApp = StreamApp()
    let serverApp = StreamApp()
    var steps = 0

    init(seed: UInt64, impairment: SimulatedLink.Impairment = .perfect, configuration: UTPConfiguration = UTPConfiguration()) {
        clientToServer = SimulatedLink(seed: seed, impairment: impairment)
        serverToClient = SimulatedLink(seed: seed &+ 1, impairment: impairment)
        clientOutput = LinkOutput(link: clientToServer)
        serverOutput = LinkOutput(link: serverToClient)
        client = UTPEndpoint(configuration: configuration, output: clientOutput, random: SeededGenerator(seed: seed &+ 2))
        server = UTPEndpoint(configuration: configuration, output: serverOutput, random: SeededGenerator(seed: seed &+ 3))
        server.listener = serverApp
    }

    @discardableResult
    func connect() throws -> UTPConnection {
        clientOutput.now = now
        let connection = try client.connect(to: serverAddress, now: now)
        connection.delegate = clientApp
        clientApp.connection = connection
        return connection
    }

    /// Moves the clock to the next event and handles it. False when nothing is left.
    @discardableResult
    func step(maximumAdvance: UInt64 = 1_000_000_000) -> Bool {
        steps += 1
        var next = now + maximumAdvance
        for candidate in [clientToServer.nextArrival, serverToClient.nextArrival, client.nextDeadline, server.nextDeadline] {
            if let candidate { next = min(next, candidate) }
        }
        now = max(now, next)
        clientOutput.now = now
        serverOutput.now = now
        let toServer = clientToServer.receive(upTo: now)
        for datagram in toServer { datagram.withUnsafeBytes { server.receive($0, from: clientAddress, now: now) } }
        if !toServer.isEmpty { server.flushAcks(now: now) }
        let toClient = serverToClient.receive(upTo: now)
        for datagram in toClient { datagram.withUnsafeBytes { client.receive($0, from: serverAddress, now: now) } }
        if !toClient.isEmpty { client.flushAcks(now: now) }
        for mtu in clientOutput.icmpReports { client.pathTooBig(to: serverAddress, mtu: mtu, now: now) }
        clientOutput.icmpReports.removeAll()
        client.poll(now: now)
        server.poll(now: now)
        clientApp.pump(now: now)
        serverApp.pump(now: now)
        return true
    }

    /// Steps until `condition` holds or `maximumSteps` pass (a watchdog).
    func run(maximumSteps: Int = 2_000_000, until condition: () -> Bool) {
        var count = 0
        while !condition() && count < maximumSteps {
            step()
            count += 1
        }
    }
}

func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    var bytes = [UInt8](repeating: 0, count: count)
    var index = 0
    while index < count {
        var word = generator.next()
        for _ in 0..<8 where index < count {
            bytes[index] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            index += 1
        }
    }
    return bytes
}
