import ArgumentParser
import CFeedReactor
import Multicast
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// `feedreactor tx-bench`: send throughput of the reactor's send path (see DESIGN.md).
struct TxBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tx-bench",
        abstract: "Send sequence-numbered datagrams through the reactor as fast as it takes them.",
        discussion: """
        Datagram n starts with n as a little-endian u64 (what rx-bench expects); after \
        --count of them come 20 end markers (2^64-1). Sends go through Reactor.send in \
        batches of --batch (epoll: sendmmsg; io_uring: one SQE each, submitted per duty \
        cycle) on a socket connected to the destination; a refused datagram is retried \
        after the next duty cycle. Prints `pps=<n> sent=<n> refused=<n>` on stdout: pps \
        from the first send until every data datagram was handed to the kernel, refused \
        = refusals (queue or send buffers full) that were retried.
        """)

    @Option(help: "Destination address (unicast or multicast group).") var address: String
    @Option(help: "UDP port.") var port: UInt16
    @Option(help: "Local address to send from (the multicast interface for a group).") var interface: String?
    @Option(help: "epoll or uring.") var backend: BackendKind = .epoll
    @Option(help: "Data datagrams to send.") var count: Int = 1_000_000
    @Option(help: "Bytes per datagram (8...65507).") var size: Int = 64
    @Option(help: "Datagrams per Reactor.send(batch:).") var batch: Int = 64
    @Option(help: "Give up after this many seconds.") var timeout: Double = 60
    @Option(help: "Pin the sending thread to this CPU.") var cpu: Int?
    @Flag(help: "io_uring: send with IORING_OP_SEND_ZC (zero copy).") var zerocopy = false

    func validate() throws {
        guard (8...65507).contains(size) else { throw ValidationError("--size must be 8...65507 (the sequence number takes 8)") }
        guard batch > 0, batch <= 1024 else { throw ValidationError("--batch must be 1...1024") }
        guard count >= 0 else { throw ValidationError("--count must be positive") }
    }

    func run() throws {
        // Plain copies: each read of an @Option property goes through its
        // property wrapper's generic getter (a metadata lookup), per datagram.
        let batch = self.batch, size = self.size
        if let cpu { _ = fr_pin_to_cpu(Int32(cpu)) }
        let depth = max(256, batch * 4)
        var configuration = Reactor.Configuration(backend: backend)
        configuration.uringSendBuffers = depth
        configuration.uringSendBufferSize = size
        configuration.uringEntries = max(256, min(32_768, depth * 2))
        if zerocopy { configuration.uringZeroCopyThreshold = 1 }
        let reactor = try Reactor(configuration)
        let destination = try SocketAddress(address, port: port)
        let socket = try openSocket(destination)
        let handler = TxHandler()
        // Send-only: no epoll entry or io_uring receive whose waiter each sent
        // datagram's free would wake (the C baseline's socket has none either).
        let token = try reactor.register(socket, options: ReceiveOptions(slotCount: 1, slotSize: 64, sourceAddresses: false),
                                         send: SendOptions(queueCapacity: depth, slotSize: size), interest: [],
                                         handler: handler)
        let pending = SendBatch(capacity: batch, slotSize: size)
        let deadline = fr_monotonic_ns() &+ UInt64(timeout * 1e9)
        var refused: UInt64 = 0
        var timedOut = false

        /// Sends sequence numbers next..<end (or `copies` end markers), retrying refusals.
        func send(from start: Int, to end: Int, marker: Bool) throws -> Bool {
            var next = start
            while next < end {
                let n = min(batch, end - next)
                for i in 0..<n {
                    guard let slot = pending.nextSlot else { break }
                    // Safety: the slot holds `size` >= 8 bytes.
                    slot.storeBytes(of: (marker ? UInt64.max : UInt64(next + i)).littleEndian, as: UInt64.self)
                    pending.commit(length: size)
                }
                let result = reactor.send(token, batch: pending)
                if let error = result.lastError { throw ValidationError("tx-bench: \(error)") }
                next += result.sent + result.queued
                refused &+= UInt64(result.refused)
                try reactor.poll()
                if fr_monotonic_ns() > deadline { return false }
            }
            return true
        }

        let started = fr_monotonic_ns()
        var finished = try send(from: 0, to: count, marker: false)
        // Every data datagram handed to the kernel: the clock stops.
        while finished && reactor.pendingSends(for: token) > 0 {
            try reactor.poll()
            if fr_monotonic_ns() > deadline { finished = false }
        }
        let elapsed = fr_monotonic_ns() - started
        if finished { finished = try send(from: 0, to: 20, marker: true) }
        while finished && reactor.pendingSends(for: token) > 0 {
            try reactor.poll()
            if fr_monotonic_ns() > deadline { finished = false }
        }
        timedOut = !finished
        let pps = elapsed > 0 ? Double(count) * 1e9 / Double(elapsed) : 0
        print("pps=\(Int(pps)) sent=\(count) refused=\(refused)")
        let c = reactor.counters
        note("backend=\(reactor.backendKind) size=\(size) batch=\(batch) cycles=\(c.cycles) direct=\(c.sendsDirect) "
             + "queued=\(c.sendsQueued) send_errors=\(c.sendErrors) zerocopy=\(zerocopy)")
        if !handler.errors.isEmpty { note("tx-bench: \(handler.errors.count) send errors, first: \(handler.errors[0])") }
        if timedOut { throw ValidationError("tx-bench: --timeout \(timeout) s passed before every datagram was sent") }
    }

    func openSocket(_ destination: SocketAddress) throws -> UDPSocket {
        let socket: UDPSocket
        if IPAddress(destination).isMulticast {
            let sendInterface = try interface.map { (text) throws(MulticastError) -> MulticastInterface in
                try MulticastInterface(parsing: text)
            }
            socket = try MulticastSender(group: IPAddress(destination.host), port: destination.port,
                                         interface: sendInterface).socket
        } else if let interface {
            socket = try UDPSocket.bound(to: SocketAddress(interface, port: 0))
        } else {
            socket = try UDPSocket(ipv6: destination.isIPv6)
        }
        // Connected: no address per datagram (IORING_OP_SEND on io_uring), as the C baseline.
        try socket.connect(to: destination)
        return socket
    }
}

/// Hears errors of sends that failed after they were taken.
final class TxHandler: DatagramHandler {
    var errors: [any Error] = []
    func receive(_ batch: DatagramBatch, reactor: Reactor) {}
    func failed(_ error: any Error, token: Token, reactor: Reactor) { errors.append(error) }
}
