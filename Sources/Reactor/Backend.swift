/// # The Backend contract
///
/// A backend is how a `Reactor` learns that its registrations are ready, how
/// datagrams reach handlers, and how sends reach the kernel. Every backend
/// provides exactly this, and the reactor asks nothing else of it (it never asks
/// which backend it has):
///
/// 1. `descriptor` — one file descriptor that is readable whenever the backend
///    has work pending (an epoll fd, or an eventfd the io_uring signals). A host
///    loop polls it to embed the reactor.
/// 2. Registrations have a kind (`RegistrationKind`): a datagram socket (the
///    backend receives for it in batches and sends through it), or a plain
///    descriptor (the backend only reports readiness, reading nothing). The
///    TCP code adds stream and listener kinds (epoll watches them as plain
///    descriptors; io_uring runs them on completions, item 12). Each backend keeps its own
///    per-registration state in its own table indexed by `token.slot`
///    (`EpollBackend.entries`, `URingBackend.entries`): the shared
///    `Registration` holds only token, descriptor, kind and interest. The
///    per-kind hooks are the `switch registration.kind` in `add`, `setInterest`,
///    `remove` and in dispatch; a new kind is a new case in each (the compiler
///    lists them).
/// 3. `add(_:)` — start watching a registration with its `interest`. A datagram
///    socket's receive buffers and send queue are allocated here, once; nothing
///    on the receive or send path allocates afterwards. A datagram socket with
///    interest `[]` only sends: it is not watched at all (no epoll entry, no
///    io_uring receive) except while its sends wait for room, because a
///    watched socket's waiter is woken by the free of every datagram it sends.
/// 4. `setInterest(_:_:)` — change a live registration's interest (epoll:
///    EPOLL_CTL_MOD, or DEL/ADD to and from no interest; io_uring: a poll
///    update SQE). Readiness is level-triggered on both backends: a descriptor
///    still ready after its callback is reported again the next cycle.
/// 5. `remove(_:)` — stop watching a registration. After it returns no event of
///    that registration is delivered, even if the kernel already queued an
///    event or completion for it (stale events are dropped by comparing the
///    token's generation). Safe to call from inside that registration's
///    callbacks. The reactor closes the descriptor afterwards when it owns it.
///    Sends queued on it are dropped (epoll) or complete unseen (io_uring: the
///    send buffers return to the pool at their completions).
/// 6. Sends (`send(_:_:to:length:)`, `send(_:batch:)`) for datagram sockets:
///    return `.sent`, `.queued` or `.refused` at once; never block, never grow.
///    A single send gets the token (its generation checked by the reactor),
///    not the registration: a send that runs no handler may borrow the
///    backend's own state unretained (io_uring's always, epoll's unless it must
///    flush a queue first); one that may run a handler (epoll flushing a full
///    queue, whose `failed` or `writable` can deregister the socket) holds the
///    registration and its state strongly.
///    epoll calls sendmsg/sendmmsg; on EAGAIN/ENOBUFS it queues into the
///    socket's bounded queue and arms EPOLLOUT only while that is non-empty.
///    io_uring copies into a send buffer of the ring's pool and prepares an SQE.
///    Either way the handler hears `writable` once the socket can take more
///    after a queued or refused send, and errors found later (a queued send
///    failing, an io_uring completion with -errno) go to its `failed`.
/// 7. `addWakeup(descriptor:)` — watch the cross-thread eventfd; when it fires,
///    `dispatch` calls `reactor.drainMailbox()`.
/// 8. `wait(timeoutNanoseconds:)` — wait for readiness or completions: 0 only
///    peeks, < 0 blocks until something happens, > 0 blocks at most that long.
///    Returns how many events are ready. Retries EINTR (returning 0). Submits
///    what is pending first (io_uring).
/// 9. `dispatch(into:)` — handle what the last `wait` found: read datagrams in
///    batches and hand each batch to `reactor.deliver(_:_:count:)`, readiness
///    of plain descriptors to `reactor.descriptorReady(...)`, socket errors to
///    `reactor.socketFailed(_:_:)`, drained send queues to
///    `reactor.sendsDrained(_:)`. Returns the number of datagrams delivered
///    plus callbacks run (the duty cycle's work count). Allocates nothing.
///    `pendingSends(_:)` says how many of a socket's datagrams are taken but
///    not yet handed over (epoll: queued; io_uring: held or in flight).
/// 10. `submit()` — the end of the duty cycle: hand the kernel what handlers
///    and timers prepared during it (io_uring SQEs), so nothing waits for the
///    next wait. epoll has nothing to do.
/// 11. `close()` — release kernel resources. Registrations are removed first.
/// 12. TCP streams (`sendStream(_:reactor:)`): readiness backends send the
///    connection's send ring with sendmsg at once (the default); io_uring
///    prepares a SEND / SENDMSG SQE of it, one in flight per stream, and
///    drives listeners and streams by multishot accept and recv completions
///    (`streamsUseCompletions`; URingBackend+TCP.swift).
/// 13. Busy polling (optional): when `readsDirectly` is true, `pollDirectly(_:into:)`
///    reads one datagram registration's socket without any wait (delivering
///    as dispatch would, and flushing its send queue) and `drainWakeup(into:)`
///    resets the wakeup descriptor and runs the mailbox. The reactor uses them
///    under `run(idle: .spin)` when only a few datagram sockets are registered
///    (plain descriptors need readiness, so they turn busy polling off).
///
/// Errors: a failed wait or registration is a thrown `ReactorError` whose message
/// says how to fix the cause; an errno that can only mean a bug in this package
/// traps naming the call (see `System`).
protocol Backend: AnyObject {
    var kind: BackendKind { get }
    var descriptor: Int32 { get }
    func add(_ registration: Registration) throws(ReactorError)
    func setInterest(_ registration: Registration, _ interest: Interest) throws(ReactorError)
    func remove(_ registration: Registration)
    /// One datagram on the socket of `token`, whose generation the reactor
    /// checked (the token, not its registration: a send need not retain one).
    func send(_ token: Token, _ bytes: UnsafeRawBufferPointer, to address: UnsafeRawPointer?,
              length: Int, reactor: Reactor) -> SendResult
    func send(_ registration: Registration, batch: SendBatch, reactor: Reactor) -> SendBatchResult
    func submit(reactor: Reactor)
    func pendingSends(_ registration: Registration) -> Int
    func addWakeup(descriptor: Int32) throws(ReactorError)
    func wait(timeoutNanoseconds: Int64) throws(ReactorError) -> Int
    func dispatch(into reactor: Reactor) -> Int
    func close()
    var readsDirectly: Bool { get }
    func pollDirectly(_ registration: Registration, into reactor: Reactor) -> Int
    func drainWakeup(into reactor: Reactor) -> Int
    func sendStream(_ connection: TCPConnection, reactor: Reactor) -> Bool
    var streamsUseCompletions: Bool { get }
}

extension Backend {
    /// A TCP stream's send ring goes out by sendmsg at once (readiness backends).
    func sendStream(_ connection: TCPConnection, reactor: Reactor) -> Bool { connection.sendDirectly(reactor: reactor) }
    var streamsUseCompletions: Bool { false }
}

/// Which kernel interface a reactor uses.
public enum BackendKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Level-triggered epoll readiness + recvmmsg batches into a per-socket slab.
    case epoll
    /// io_uring multishot recvmsg into a provided buffer ring.
    case uring
    /// io_uring where built and allowed by the kernel, epoll otherwise.
    case auto

    /// The case's name as the command line spells it: `epoll`, `uring` or `auto`.
    public var description: String { rawValue }
}

/// How a registered socket receives.
public struct ReceiveOptions: Sendable {
    /// Datagrams read per batch (recvmmsg vector length).
    public var slotCount: Int = 64
    /// Bytes per datagram slot; a longer datagram is delivered truncated and flagged.
    public var slotSize: Int = 2048
    /// Bytes of ancillary data per datagram (pktinfo, timestamps); 0 for none.
    public var controlSize: Int = 0
    /// Batches read per readiness event before moving on to other sockets (fairness).
    public var maxBatchesPerWake: Int = 16
    /// Collect each datagram's source address (`Datagram.sourceAddress`). A
    /// handler that never looks at it can turn this off and spare the kernel the
    /// copy; datagrams then report an empty source.
    public var sourceAddresses: Bool = true

    /// Options for `Reactor.register(_:options:sendOptions:handler:)`; each argument
    /// is the property of the same name. The receive memory (`slotCount` ×
    /// (`slotSize` + `controlSize`)) is allocated once, at registration.
    public init(slotCount: Int = 64, slotSize: Int = 2048, controlSize: Int = 0, maxBatchesPerWake: Int = 16,
                sourceAddresses: Bool = true) {
        self.slotCount = slotCount
        self.slotSize = slotSize
        self.controlSize = controlSize
        self.maxBatchesPerWake = maxBatchesPerWake
        self.sourceAddresses = sourceAddresses
    }
}

import CFeedReactor
import Synchronization

/// Builds the backend a configuration asks for.
enum BackendFactory {
    /// Set once per process when `.auto` fell back to epoll, so the reason is
    /// said once (atomic: reactors are made on many threads at once).
    static let fallbackReported = Atomic<Bool>(false)

    static func make(_ configuration: Reactor.Configuration) throws(ReactorError) -> any Backend {
        switch configuration.backend {
        case .epoll:
            return try EpollBackend(maxEvents: configuration.maxEventsPerWait, maxRegistrations: configuration.maxRegistrations)
        case .uring:
            return try URingBackend(configuration)
        case .auto:
            do {
                return try URingBackend(configuration)
            } catch {
                if !fallbackReported.exchange(true, ordering: .relaxed) {
                    configuration.logger.notice("io_uring backend not used, falling back to epoll", metadata: ["reason": "\(error.description)"])
                }
                return try EpollBackend(maxEvents: configuration.maxEventsPerWait, maxRegistrations: configuration.maxRegistrations)
            }
        }
    }
}
