import CFeedReactor

/// What a registration is, with what only that kind needs. Every backend
/// switches over this in its hooks (`add`, `setInterest`, `remove`, dispatch of
/// an event), so a new kind is one new case here plus one case in each of
/// those switches: the compiler lists every place. (The TCP code adds
/// `stream` and `listener` this way.)
enum RegistrationKind {
    /// A UDP socket: the backend reads datagrams for it and sends through it.
    case datagram(DatagramEndpoint)
    /// Any descriptor (pipe, timerfd, eventfd, another library's socket): the
    /// backend only reports readiness; the handler does the reading and writing.
    case descriptor(any DescriptorHandler)
    /// A TCP connection (Reactor+TCP.swift). epoll watches it as a plain
    /// descriptor: its readable / writable readiness drives readv into its
    /// receive ring and sendmsg from its send ring. io_uring hands it multishot
    /// recv and send completions (URingBackend+TCP.swift).
    case stream(TCPConnection)
    /// A TCP listening socket: readable readiness drives accept4 (io_uring: a
    /// multishot accept).
    case listener(TCPListenerState)
}

extension RegistrationKind {
    /// A TCP stream or listener (their registration objects are recycled).
    var isTCP: Bool {
        switch self {
        case .stream, .listener: return true
        case .datagram, .descriptor: return false
        }
    }

    /// Who hears the readiness of a readiness-driven kind (all but datagram).
    var readinessHandler: (any DescriptorHandler)? {
        switch self {
        case .datagram: return nil
        case .descriptor(let handler): return handler
        case .stream(let connection): return connection
        case .listener(let listener): return listener
        }
    }
}

/// A registration as the reactor sees it: token, descriptor, kind, interest.
/// Backend-independent; each backend keeps its own per-registration state in a
/// table of its own, indexed by `token.slot` (epoll: `EpollBackend.entries`,
/// io_uring: `URingBackend.entries`). Nothing here belongs to one backend.
final class Registration {
    // var, not let: a TCP registration object is reused (`reuse`) after its
    // connection ended, so that accepting after warm-up allocates nothing.
    private(set) var token: Token
    private(set) var descriptor: Int32
    private(set) var kind: RegistrationKind
    /// The interest last asked for (datagram sockets: `.readable`, or `[]` for a
    /// send-only socket, fixed at registration; their
    /// writable readiness is the backend's business while sends are queued).
    var interest: Interest
    /// The reactor closes the descriptor at deregistration (datagram sockets);
    /// plain descriptors stay the caller's unless it said otherwise.
    private(set) var closesDescriptor: Bool
    var isOpen = true

    init(token: Token, descriptor: Int32, kind: RegistrationKind, interest: Interest, closesDescriptor: Bool) {
        self.token = token
        self.descriptor = descriptor
        self.kind = kind
        self.interest = interest
        self.closesDescriptor = closesDescriptor
    }

    /// A retired registration made new (`Reactor.add`; see `Recycler`).
    func reuse(token: Token, descriptor: Int32, kind: RegistrationKind, interest: Interest, closesDescriptor: Bool) {
        self.token = token
        self.descriptor = descriptor
        self.kind = kind
        self.interest = interest
        self.closesDescriptor = closesDescriptor
        isOpen = true
    }

    /// Deregistered: drops what it refers to (a connection's buffers must not
    /// stay alive in the recycler) while it waits to be reused.
    func retire() {
        kind = .descriptor(RetiredDescriptor.handler)
        descriptor = -1
    }

    /// The datagram endpoint, for the datagram kind.
    @inline(__always)
    var datagram: DatagramEndpoint? {
        if case .datagram(let endpoint) = kind { return endpoint }
        return nil
    }
}

/// Stands in for the handler of a registration waiting in a `Recycler`; never called.
final class RetiredDescriptor: DescriptorHandler, Sendable {
    static let handler = RetiredDescriptor()
    func readable(token: Token, reactor: Reactor) {}
}

/// What a registered datagram socket needs on every backend: its handler, its
/// options and the datagram descriptors a backend fills before `deliver`.
final class DatagramEndpoint {
    let handler: any DatagramHandler
    let options: ReceiveOptions
    let sendOptions: SendOptions
    /// One descriptor per slot; the backend fills them before `deliver`.
    let datagrams: UnsafeMutablePointer<fr_datagram>

    init(handler: any DatagramHandler, options: ReceiveOptions, sendOptions: SendOptions) {
        self.handler = handler
        self.options = options
        self.sendOptions = sendOptions
        datagrams = .allocate(filledWith: fr_datagram(), count: max(1, options.slotCount))
    }

    deinit { datagrams.deallocate() }
}
