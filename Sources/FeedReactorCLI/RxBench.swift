import ArgumentParser
import CFeedReactor
import Multicast
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// `feedreactor rx-bench`: drain throughput of the receive path (see DESIGN.md).
struct RxBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rx-bench",
        abstract: "Receive sequence-numbered datagrams and report packets per second.",
        discussion: """
        Datagrams carry a little-endian u64 sequence number in their first 8 bytes; \
        sequence 2^64-1 ends the run. Prints `ready` on stderr once bound (and joined), \
        and one stdout line `pps=<n> received=<n> gaps=<n>` at the end.
        """)

    @Option(help: "Address to bind (unicast) or group to join (multicast).") var address: String
    @Option(parsing: .unconditional, help: "UDP port (0: the kernel picks one).", transform: portNumber("--port", allowZero: true)) var port: UInt16
    @Option(help: "Interface for a multicast join: an address, index or name.") var interface: String?
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .epoll
    @Option(help: IdleOption.help) var idle: IdleOption = IdleOption(argument: "block")!
    @Option(parsing: .unconditional, help: "Receive buffer bytes (SO_RCVBUFFORCE as root).", transform: wholeNumber("--rcvbuf", 1...Int(Int32.max))) var rcvbuf: Int?
    @Option(name: .customLong("start-file"), help: "Bind, print ready, then read nothing until this file exists.")
    var startFile: String?
    @Option(parsing: .unconditional, help: "Datagrams per recvmmsg batch.", transform: wholeNumber("--batch", 1...1024)) var batch: Int = 64
    @Option(parsing: .unconditional, help: "Give up after this many seconds without the end marker (exit 2).",
            transform: decimal("--timeout", 0.001...31_536_000, unit: " s")) var timeout: Double?
    @Option(parsing: .unconditional, help: "Pin the receiving thread to this CPU.", transform: wholeNumber("--cpu", 0...4095)) var cpu: Int?

    func run() throws {
        if let cpu { try? Reactor.pinCurrentThread(toCPU: cpu) }
        var configuration = Reactor.Configuration(backend: backend)
        configuration.uringBufferCount = 4096
        let reactor = try Reactor(configuration)
        let socket = try openSocket()
        if let rcvbuf { try socket.setReceiveBuffer(bytes: rcvbuf) }
        let counter = SequenceCounter()
        if let startFile {
            note("ready")
            while access(startFile, F_OK) != 0 { fr_sleep_ns(200_000) }
        } else {
            note("ready")
        }
        try reactor.register(socket, options: ReceiveOptions(slotCount: batch, slotSize: 2048, sourceAddresses: false), handler: counter)
        let stopper = Stopper()
        if let timeout { try reactor.schedule(after: Nanoseconds.seconds(timeout), handler: stopper) }
        try reactor.run(idle: idle.strategy)
        print(counter.summary())
        let c = reactor.counters
        note("backend=\(reactor.backendKind) cycles=\(c.cycles) batches=\(c.batches) "
             + "buffer_exhaustions=\(c.bufferExhaustions) rearms=\(c.receiveRearms)")
        if stopper.fired {
            note("rx-bench: timed out after \(timeout ?? 0) s without the end marker (sequence 2^64-1); is the sender running?")
            throw ExitCode(2)
        }
    }

    func openSocket() throws -> UDPSocket {
        let target = try SocketAddress(address, port: port)
        if IPAddress(target).isMulticast {
            // The C baselines ask for no pktinfo, and nothing here reads it.
            return try joinMulticast(group: target, interface: interface, packetInfo: false)
        }
        return try UDPSocket.bound(to: target)
    }
}

/// Counts sequence numbers, the first/last arrival times and the gaps between.
final class SequenceCounter: DatagramHandler {
    static let endMarker = UInt64.max
    /// A window of 2^26 sequence numbers tracked exactly (8 MiB bitmap).
    static let windowBits = 1 << 26

    var received: UInt64 = 0
    var distinct: UInt64 = 0
    var lowest = UInt64.max
    var highest: UInt64 = 0
    var base: UInt64 = 0
    var firstTime: UInt64 = 0
    var lastTime: UInt64 = 0
    var outOfWindow: UInt64 = 0
    let seen: UnsafeMutablePointer<UInt64>

    init() {
        seen = .allocate(filledWith: 0, count: Self.windowBits / 64)
    }

    deinit { seen.deallocate() }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        var data = false
        if received == 0 { firstTime = fr_monotonic_ns() }
        for datagram in batch {
            let bytes = datagram.bytes
            guard bytes.count >= 8 else { continue }
            let sequence = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
            if sequence == Self.endMarker {
                reactor.stop()
                continue
            }
            if received == 0 {
                base = sequence >= UInt64(Self.windowBits / 2) ? sequence - UInt64(Self.windowBits / 2) : 0
            }
            data = true
            received &+= 1
            if sequence < lowest { lowest = sequence }
            if sequence > highest { highest = sequence }
            let offset = sequence &- base
            if sequence >= base && offset < UInt64(Self.windowBits) {
                let word = Int(offset >> 6), bit = UInt64(1) << (offset & 63)
                if seen[word] & bit == 0 { seen[word] |= bit; distinct &+= 1 }
            } else {
                outOfWindow &+= 1
            }
        }
        if data { lastTime = fr_monotonic_ns() }
    }

    func summary() -> String {
        let span = received > 0 ? highest - lowest + 1 : 0
        let gaps = span > distinct + outOfWindow ? span - distinct - outOfWindow : 0
        let seconds = Double(lastTime &- firstTime) / 1e9
        let pps = received > 1 && seconds > 0 ? UInt64(Double(received - 1) / seconds) : 0
        return "pps=\(pps) received=\(received) gaps=\(gaps)"
    }
}
