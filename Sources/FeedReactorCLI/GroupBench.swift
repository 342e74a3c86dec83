import ArgumentParser
import CFeedReactor
import Reactor
import Synchronization

/// `feedreactor group-bench`: one reactor per core against one reactor for all.
///
/// Fills `--sockets` loopback sockets with `--count` datagrams each (queued in
/// receive buffers raised with SO_RCVBUFFORCE: run as root), then lets a
/// `ReactorGroup` of `--reactors` reactors, pinned to `--cpus`, drain them:
/// socket i goes to reactor i % reactors. Prints one line
/// `pps=<aggregate> received=<n> reactors=<r> sockets=<s>`, pps over the span
/// from the first datagram any reactor read to the last one. `Benchmarks/group-drain.sh`
/// alternates `--reactors 1` and `--reactors 2` and reports the ratio of medians.
struct GroupBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group-bench",
        abstract: "Drain pre-filled sockets with a ReactorGroup; report aggregate packets per second."
    )

    @Option(help: "Reactors in the group (each on its own pinned thread).") var reactors: Int = 2
    @Option(help: "Sockets, each pre-filled with --count datagrams.") var sockets: Int = 2
    @Option(help: "Datagrams queued per socket.") var count: Int = 1_000_000
    @Option(help: "Datagram size in bytes (>= 8).") var size: Int = 64
    @Option(help: "CPUs for the reactors, comma-separated (default 0,1,...).") var cpus: String?
    @Option(help: "Backend of every reactor.") var backend: BackendKind = .epoll
    @Option(help: "Receive buffer per socket in bytes (SO_RCVBUFFORCE as root).") var rcvbuf: Int = 1_073_741_823
    @Option(help: "Give up after this many seconds of draining.") var timeout: Double = 60
    @Option(help: "Fill every socket from this CPU (default: from the CPU of the reactor that drains it).")
    var fillCPU: Int?

    func validate() throws {
        guard reactors > 0, sockets > 0, count > 0, size >= 8 else {
            throw ValidationError("--reactors, --sockets and --count must be positive and --size at least 8")
        }
    }

    func run() throws {
        let cpuList = try cpus.map { text in
            try text.split(separator: ",").map { part -> Int in
                guard let cpu = Int(part) else { throw ValidationError("--cpus takes numbers like 0,1") }
                return cpu
            }
        } ?? Array(0..<reactors)
        guard cpuList.count == reactors else { throw ValidationError("--cpus names \(cpuList.count) CPUs for \(reactors) reactors") }

        // Fill every socket before any reactor exists: the drain alone is measured.
        var targets: [UDPSocket] = []
        for _ in 0..<sockets {
            let socket = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
            try socket.setReceiveBuffer(bytes: rcvbuf)
            targets.append(socket)
        }
        // Socket i is filled from the CPU of the reactor that drains it, as a
        // NIC's receive queue steered to that core would: the kernel then frees
        // each datagram on the CPU that allocated it, in either configuration
        // (remote frees cost the draining CPU, and only the CPU other than the
        // filler's would pay them).
        // (The main thread stays on the last filler CPU; it only waits. Each
        // reactor thread pins itself to its own CPU.)
        try fill(targets) { index in fillCPU ?? cpuList[index % reactors] }
        note("filled \(sockets) sockets with \(count) datagrams of \(size) bytes")

        var configuration = Reactor.Configuration(backend: backend)
        configuration.uringBufferCount = 4096
        let group = ReactorGroup(cpus: cpuList, configuration: configuration)
        try group.start()
        let run = DrainRun(sockets: sockets, perSocket: count)
        let go = System.Latch()
        // Each reactor waits for the gate, then registers its sockets: all start together.
        for member in 0..<reactors {
            let mine = targets.indices.filter { $0 % reactors == member }.map { targets[$0] }
            let indices = targets.indices.filter { $0 % reactors == member }
            group.members[member].remote.post { reactor in
                go.wait()
                for (socket, index) in zip(mine, indices) {
                    do {
                        try reactor.register(socket, options: ReceiveOptions(slotCount: 64, slotSize: 2048, sourceAddresses: false),
                                             handler: DrainCounter(run: run, socket: index))
                    } catch {
                        note("register: \(error)")
                        run.finished.open()
                    }
                }
            }
        }
        go.open()
        let completed = run.finished.wait(nanoseconds: UInt64(timeout * 1e9))
        try group.stop()
        let received = run.received()
        let seconds = Double(run.lastTime.load(ordering: .acquiring) &- run.firstTime.load(ordering: .acquiring)) / 1e9
        let pps = received > 1 && seconds > 0 ? UInt64(Double(received - 1) / seconds) : 0
        print("pps=\(pps) received=\(received) reactors=\(reactors) sockets=\(sockets)")
        guard completed, received == sockets * count else {
            throw ValidationError("drained \(received) of \(sockets * count) datagrams in \(timeout) s: "
                                  + "datagrams were dropped while filling (run as root so SO_RCVBUFFORCE holds them, or lower --count)")
        }
    }

    /// Queues `count` sequence-numbered datagrams into each socket with sendmmsg(64).
    func fill(_ targets: [UDPSocket], cpu: (Int) -> Int) throws {
        let sender = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        defer { sender.close() }
        try sender.setSendBuffer(bytes: 8 << 20)
        let batch = SendBatch(capacity: 64, slotSize: size)
        for (index, target) in targets.enumerated() {
            _ = fr_pin_to_cpu(Int32(cpu(index)))
            let destination = try target.localAddress()
            var sequence: UInt64 = 0
            var spins = 0
            while sequence < UInt64(count) || batch.count > 0 {
                while sequence < UInt64(count), let slot = batch.nextSlot {
                    slot.storeBytes(of: sequence.littleEndian, as: UInt64.self)
                    batch.commit(length: size, to: destination)
                    sequence += 1
                }
                if try batch.flush(on: sender) == 0 {
                    // The send buffer is full: loopback drains it into the receiver
                    // as soon as the kernel gets to it.
                    spins += 1
                    if spins > 10_000_000 { throw ValidationError("the send buffer never drained while filling") }
                    fr_cpu_relax()
                }
            }
        }
    }
}

/// What every reactor's counters add up to.
final class DrainRun: @unchecked Sendable {
    let perSocket: Int
    /// Datagrams received per socket (a class each: atomics cannot sit in an array).
    let counts: [Count]
    final class Count: Sendable { let value = Atomic<Int>(0) }
    let socketsDone = Atomic<Int>(0)
    let sockets: Int
    let firstTime = Atomic<UInt64>(UInt64.max)
    let lastTime = Atomic<UInt64>(0)
    let finished = System.Latch()

    init(sockets: Int, perSocket: Int) {
        self.sockets = sockets
        self.perSocket = perSocket
        counts = (0..<sockets).map { _ in Count() }
    }

    func received() -> Int { counts.reduce(0) { $0 + $1.value.load(ordering: .acquiring) } }
}

/// Counts one socket's datagrams; notes the first and last arrival.
final class DrainCounter: DatagramHandler {
    let run: DrainRun
    let socket: Int
    var received = 0
    var done = false
    var sum: UInt64 = 0

    init(run: DrainRun, socket: Int) {
        self.run = run
        self.socket = socket
    }

    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        if received == 0 {
            let now = fr_monotonic_ns()
            var current = run.firstTime.load(ordering: .relaxed)
            while now < current {
                let (exchanged, original) = run.firstTime.compareExchange(expected: current, desired: now, ordering: .relaxed)
                if exchanged { break }
                current = original
            }
        }
        for datagram in batch { sum &+= datagram.bytes.loadUnaligned(as: UInt64.self) }
        received += batch.count
        run.counts[socket].value.store(received, ordering: .releasing)
        if received >= run.perSocket && !done {
            done = true
            run.lastTime.max(fr_monotonic_ns(), ordering: .relaxed)
            if run.socketsDone.add(1, ordering: .acquiringAndReleasing).newValue == run.sockets { run.finished.open() }
        }
    }
}
