import Synchronization

/// One reactor per core: N reactors, each built and run on its own thread
/// pinned to a CPU you name, started and stopped together.
///
/// Each reactor is created on its thread (io_uring rings are single-issuer),
/// `setup` runs there before the group counts as started, and `run(idle:)`
/// follows. Sockets go to a reactor you pick or round-robin; work and data
/// move between reactors through `RemoteHandle.post` or, without a lock or an
/// allocation per item, through a `ReactorChannel`.
///
/// ```swift
/// let group = ReactorGroup(cpus: [0, 1])
/// try group.start()
/// for socket in sockets {                     // round-robin over the two reactors
///     try group.register(socket) { reactor in CountingHandler() }
/// }
/// ...
/// try group.stop()                            // stops all, waits for the threads
/// ```
public final class ReactorGroup: @unchecked Sendable {
    /// One reactor of the group, as other threads see it.
    public struct Member: Sendable {
        /// The CPU its thread is pinned to.
        public let cpu: Int
        /// The door into it: post work, wake, stop.
        public let remote: RemoteHandle
        /// The backend it got (`.auto` resolved).
        public let backendKind: BackendKind
    }

    /// The CPUs the members' threads are pinned to, one reactor per entry.
    public let cpus: [Int]
    /// The configuration every member's reactor is built with.
    public let configuration: Reactor.Configuration
    /// The idle strategy every member runs with.
    public let idle: IdleStrategy
    /// The members, in `cpus` order (empty until `start`).
    public private(set) var members: [Member] = []
    var threads: [ReactorThread] = []
    let nextMember = Atomic<Int>(0)

    /// A group of one reactor per entry of `cpus` (a CPU may repeat), each made
    /// with `configuration` and run with `idle`.
    public init(cpus: [Int], configuration: Reactor.Configuration = Reactor.Configuration(), idle: IdleStrategy = .block) {
        precondition(!cpus.isEmpty, "a ReactorGroup needs at least one CPU")
        self.cpus = cpus
        self.configuration = configuration
        self.idle = idle
    }

    /// The CPUs of this machine, one reactor each: 0..<online CPUs.
    public static var allCPUs: [Int] { Array(0..<System.onlineCPUs) }

    /// Starts every reactor: its thread, pinned to its CPU, builds the reactor,
    /// runs `setup(index, reactor)`, then runs the reactor until `stop()`.
    /// Returns when all are set up. If any thread fails to start, pin, build or
    /// set up, the ones already running are stopped and joined, and that error
    /// is thrown.
    public func start(setup: @escaping (Int, Reactor) throws -> Void = { _, _ in }) throws {
        precondition(threads.isEmpty, "ReactorGroup started twice")
        var started: [(ReactorThread, Member)] = []
        do {
            for (index, cpu) in cpus.enumerated() {
                let thread = ReactorThread()
                let slot = Handoff<Member>()
                let configuration = configuration, idle = idle
                try thread.start(pinnedTo: cpu) { thread in
                    let reactor = try Reactor(configuration)
                    try setup(index, reactor)
                    slot.value = Member(cpu: cpu, remote: reactor.remote, backendKind: reactor.backendKind)
                    thread.ready()
                    try reactor.run(idle: idle)
                }
                started.append((thread, slot.value!))
            }
        } catch {
            for (thread, member) in started { member.remote.stop(); thread.join() }
            throw error
        }
        threads = started.map(\.0)
        members = started.map(\.1)
    }

    /// Stops every reactor and waits for their threads. Throws the first error
    /// a reactor's `run` ended with (after all threads were joined).
    public func stop() throws {
        for member in members { member.remote.stop() }
        for thread in threads { thread.join() }
        let failure = threads.lazy.compactMap(\.failure).first
        threads = []
        members = []
        if let failure { throw failure }
    }

    /// The next member index, round-robin.
    public func nextIndex() -> Int {
        nextMember.wrappingAdd(1, ordering: .relaxed).oldValue % cpus.count
    }

    /// Runs `body` on member `index`'s thread with its reactor and waits for the
    /// result. Call it from outside the group's threads (a reactor waiting for
    /// itself would never answer), after `start`.
    public func perform<Result: Sendable>(on index: Int, _ body: @escaping @Sendable (Reactor) throws -> Result) throws -> Result {
        precondition(!threads.isEmpty, "ReactorGroup.perform before start")
        precondition(!threads[index].isCurrent, "ReactorGroup.perform called on the reactor's own thread")
        let outcome = Handoff<Swift.Result<Result, any Error>>()
        members[index].remote.post { reactor in
            outcome.value = Swift.Result { try body(reactor) }
            outcome.done.open()
        }
        outcome.done.wait()
        return try outcome.value!.get()
    }

    /// Registers `socket` with member `index` (nil: the next one round-robin),
    /// its handler made by `makeHandler` on that reactor's thread. Returns the
    /// member index and the token (valid on that reactor only).
    @discardableResult
    public func register(_ socket: UDPSocket, on index: Int? = nil, options: ReceiveOptions = ReceiveOptions(),
                         makeHandler: @escaping @Sendable (Reactor) -> any DatagramHandler) throws -> (member: Int, token: Token) {
        let member = index ?? nextIndex()
        let token = try perform(on: member) { reactor in
            try reactor.register(socket, options: options, handler: makeHandler(reactor))
        }
        return (member, token)
    }
}

/// A value handed from one thread to another: written before `done` opens (or
/// before a latch the writer opens), read after.
final class Handoff<Value>: @unchecked Sendable {
    var value: Value?
    let done = System.Latch()
}
