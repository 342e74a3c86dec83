/// # The Backend contract
///
/// A backend is how a `Reactor` learns that its sockets have datagrams, and how
/// those datagrams reach handlers. Every backend provides exactly this, and the
/// reactor asks nothing else of it (it never asks which backend it has):
///
/// 1. `descriptor` — one file descriptor that is readable whenever the backend
///    has work pending (an epoll fd, or an eventfd the io_uring signals). A host
///    loop polls it to embed the reactor.
/// 2. `add(_:)` — start receiving for a registration. Allocates that socket's
///    buffers here, once; nothing on the receive path allocates afterwards.
/// 3. `remove(_:)` — stop receiving for a registration. After it returns no
///    datagram of that registration is delivered, even if the kernel already
///    queued an event or completion for it (stale events are dropped by comparing
///    the token's generation). Safe to call from inside that registration's
///    callback. The reactor closes the descriptor afterwards.
/// 4. `addWakeup(descriptor:)` — watch the cross-thread eventfd; when it fires,
///    `dispatch` calls `reactor.drainMailbox()`.
/// 5. `wait(timeoutNanoseconds:)` — wait for readiness or completions: 0 only
///    peeks, < 0 blocks until something happens, > 0 blocks at most that long.
///    Returns how many events are ready. Retries EINTR (returning 0).
/// 6. `dispatch(into:)` — handle what the last `wait` found: read datagrams in
///    batches and hand each batch to `reactor.deliver(_:count:)`, socket errors
///    to `reactor.socketFailed(_:_:)`. Returns the number of datagrams delivered
///    plus wakeups handled (the duty cycle's work count). Allocates nothing.
/// 7. `close()` — release kernel resources. Registrations are removed first.
/// 8. Busy polling (optional): when `readsDirectly` is true, `pollDirectly(_:into:)`
///    reads one registration's socket without any wait (delivering as dispatch
///    would) and `drainWakeup(into:)` resets the wakeup descriptor and runs the
///    mailbox. The reactor uses them under `run(idle: .spin)` for few sockets.
///
/// Errors: a failed wait or registration is a thrown `ReactorError` whose message
/// says how to fix the cause; an errno that can only mean a bug in this package
/// traps naming the call (see `System`).
protocol Backend: AnyObject {
    var kind: BackendKind { get }
    var descriptor: Int32 { get }
    func add(_ registration: Registration) throws(ReactorError)
    func remove(_ registration: Registration)
    func addWakeup(descriptor: Int32) throws(ReactorError)
    func wait(timeoutNanoseconds: Int64) throws(ReactorError) -> Int
    func dispatch(into reactor: Reactor) -> Int
    func close()
    var readsDirectly: Bool { get }
    func pollDirectly(_ registration: Registration, into reactor: Reactor) -> Int
    func drainWakeup(into reactor: Reactor) -> Int
}

/// Which kernel interface a reactor uses.
public enum BackendKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Level-triggered epoll readiness + recvmmsg batches into a per-socket slab.
    case epoll
    /// io_uring multishot recvmsg into a provided buffer ring.
    case uring
    /// io_uring where built and allowed by the kernel, epoll otherwise.
    case auto

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

    public init(slotCount: Int = 64, slotSize: Int = 2048, controlSize: Int = 0, maxBatchesPerWake: Int = 16,
                sourceAddresses: Bool = true) {
        self.slotCount = slotCount
        self.slotSize = slotSize
        self.controlSize = controlSize
        self.maxBatchesPerWake = maxBatchesPerWake
        self.sourceAddresses = sourceAddresses
    }
}

/// A registered socket: its token, descriptor, handler and receive buffers.
/// Owned by the reactor; backends keep their per-socket state in `backendState`.
final class Registration {
    let token: Token
    let descriptor: Int32
    let handler: any DatagramHandler
    let options: ReceiveOptions
    /// One descriptor per slot; the backend fills them before `deliver`.
    let datagrams: UnsafeMutablePointer<fr_datagram>
    /// The epoll backend's recvmmsg slab.
    var slab: BufferSlab?
    /// Busy polling: the last direct read found datagrams, so read in batches
    /// (else one cheap recvfrom first).
    var pollingBusy = false
    /// Per-socket state of other backends.
    var backendState: AnyObject?
    var isOpen = true
    /// A TCP stream or listener registration (Reactor+TCPRegistration.swift).
    var stream: TCPConnection?
    var listener: TCPListenerState?

    init(token: Token, descriptor: Int32, handler: any DatagramHandler, options: ReceiveOptions) {
        self.token = token
        self.descriptor = descriptor
        self.handler = handler
        self.options = options
        datagrams = .allocate(filledWith: fr_datagram(), count: max(1, options.slotCount))
    }

    deinit { datagrams.deallocate() }
}

import CFeedReactor

/// Builds the backend a configuration asks for.
enum BackendFactory {
    /// Set once per process when `.auto` fell back to epoll, so the reason is said once.
    nonisolated(unsafe) static var fallbackReported = false

    static func make(_ configuration: Reactor.Configuration) throws(ReactorError) -> any Backend {
        switch configuration.backend {
        case .epoll:
            return try EpollBackend(maxEvents: configuration.maxEventsPerWait)
        case .uring:
            return try URingBackend(configuration)
        case .auto:
            do {
                return try URingBackend(configuration)
            } catch {
                if !fallbackReported {
                    fallbackReported = true
                    configuration.log("feedreactor: \(error.description); using epoll")
                }
                return try EpollBackend(maxEvents: configuration.maxEventsPerWait)
            }
        }
    }
}
