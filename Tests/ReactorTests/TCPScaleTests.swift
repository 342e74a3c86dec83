import Foundation
import Testing
import CFeedReactor
#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import TestSupport

/// Many connections on one reactor: 10,000 echoing at once, the registration
/// capacity, and what happens when it runs out.
@Suite struct TCPScaleTests {
    /// The client side of the 10,000-connection test, in its own process: RLIMIT_NOFILE
    /// is 20,000 here (hard limit, not raisable even as root), and 10,000 connections
    /// with both ends in one process need more than that. It opens every connection
    /// first (all 10,000 are alive together), sends each a seeded payload, reads every
    /// echo back, compares, and prints one line.
    static let clients = """
    import random, socket, sys
    port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(7)
    socks = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(count)]
    payloads = [rng.randbytes(size) for _ in range(count)]
    for s, p in zip(socks, payloads):
        s.sendall(p)
    mismatched = 0
    for s, p in zip(socks, payloads):
        got = b""
        while len(got) < size:
            chunk = s.recv(size - len(got))
            if not chunk:
                break
            got += chunk
        mismatched += got != p
    print(f"connections={count} mismatched={mismatched}", flush=True)
    for s in socks:
        s.close()
    """

    /// Runs `clients` (`count` connections, 64 bytes each) against the port while
    /// the reactor serves; expects every echo back intact.
    static func runClients(_ python: String, _ reactor: Reactor, port: UInt16, count: Int,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", clients, "\(port)", "\(count)", "64"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // The reactor serves while the clients run. Bounded by wall time, not by
        // cycles: how many cycles 10,000 python clients take depends on how much CPU
        // they get (a loaded CI machine ran 400,000 cycles out in 90 s); the
        // clients' own socket timeouts end them if something hangs.
        let deadline = fr_monotonic_ns() + 300_000_000_000
        while process.isRunning {
            guard fr_monotonic_ns() < deadline else {
                Issue.record("the clients were still running after 300 s", sourceLocation: sourceLocation)
                return
            }
            _ = try reactor.runOnce(timeout: 1_000_000)
        }
        process.waitUntilExit()
        let line = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, sourceLocation: sourceLocation)
        #expect(line.trimmingCharacters(in: .whitespacesAndNewlines) == "connections=\(count) mismatched=0",
                sourceLocation: sourceLocation)
    }

    /// Raises the soft open-file limit to `needed` if the hard limit allows; false if not.
    static func openFilesAllow(_ needed: Int) -> Bool {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return false }
        if limit.rlim_cur >= rlim_t(needed) { return true }
        guard limit.rlim_max >= rlim_t(needed) else { return false }
        limit.rlim_cur = rlim_t(needed)
        return setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0
    }

    @Test(arguments: TCPStreamTests.backends)
    func tenThousandConnectionsEchoOnOneReactor(backend: BackendKind) throws {
        let count = 10_000
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            print("skipped: \(python) is not installed (apt-get install -y python3); it runs the 10,000 clients")
            return
        }
        // The reactor's side: 10,000 streams and a listener, plus whatever the
        // other suites running in parallel have open.
        guard Self.openFilesAllow(count + 2_000) else {
            print("skipped: RLIMIT_NOFILE cannot be raised to \(count + 2_000); raise the hard limit (ulimit -Hn)")
            return
        }
        var configuration = Reactor.Configuration(backend: backend)
        // The capacity the issue asks for (at least 100,000), used here for real.
        configuration.maxRegistrations = 100_000
        configuration.maxEventsPerWait = 256
        let reactor = try Reactor(configuration)
        let pool = TCPConnectionPool(capacity: count, receiveCapacity: 2048, sendCapacity: 2048)
        let server = TCPStreamTests.EchoListener()
        var mostAlive = 0
        let listener = CountingListener(server) { reactor, token in
            // The live count so far, plus the one being accepted.
            mostAlive = max(mostAlive, (reactor.connectionCount(listener: token) ?? 0) + 1)
        }
        var options = TCPListenerOptions(backlog: 4096, maxConnections: count, pool: pool)
        options.maxAcceptsPerWake = 256
        let (token, address) = try loopbackListener(reactor, options: options, handler: listener)

        try Self.runClients(python, reactor, port: address.port, count: count)
        // The last connections were accepted while the first ones were still open
        // (the client opens all before closing any): at least those 10,000 at once.
        try pump(reactor, cycles: 20_000, timeout: 1_000_000) { reactor.connectionCount(listener: token) == 0 }
        #expect(mostAlive == count)
        #expect(listener.accepted == count)
        #expect(reactor.tcpCounters.accepted == UInt64(count))
        #expect(reactor.tcpCounters.overLimit == 0)
        #expect(reactor.tcpCounters.bytesReceived == UInt64(count * 64))
        #expect(reactor.tcpCounters.bytesSent == UInt64(count * 64))
        // Every connection came from the pool and went back to it.
        #expect(pool.misses == 0)
        #expect(pool.available == count)
        #expect(reactor.registrationCount == 1)
    }

    /// io_uring, a buffer group far smaller than the streams receiving at once
    /// (8 buffers, 2,000 streams): the recvs that end in -ENOBUFS are re-armed a
    /// few at a time as buffers free up, not all at once every dispatch (which
    /// made nearly all of them end in -ENOBUFS again: millions of SQEs and CQEs,
    /// the clients timed out). Every stream is still served.
    @Test func aDryBufferGroupReArmsAFewStreamsAtATime() throws {
        let count = 2_000
        let python = "/usr/bin/python3"
        guard TCPStreamTests.backends.contains(.uring) else {
            print("skipped: io_uring is not available here")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: python) else {
            print("skipped: \(python) is not installed (apt-get install -y python3); it runs the clients")
            return
        }
        guard Self.openFilesAllow(count + 2_000) else {
            print("skipped: RLIMIT_NOFILE cannot be raised to \(count + 2_000); raise the hard limit (ulimit -Hn)")
            return
        }
        var configuration = Reactor.Configuration(backend: .uring)
        configuration.maxRegistrations = 4096
        configuration.uringStreamBufferCount = 8
        var logger = configuration.logger
        logger.logLevel = .critical   // (the group running dry is logged once)
        configuration.logger = logger
        let reactor = try Reactor(configuration)
        var options = TCPListenerOptions(backlog: 4096, maxConnections: count)
        options.stream = TCPStreamOptions(receiveCapacity: 2048, sendCapacity: 2048)
        let (_, address) = try loopbackListener(reactor, options: options, handler: TCPStreamTests.EchoListener())
        try Self.runClients(python, reactor, port: address.port, count: count)
        #expect(reactor.tcpCounters.bytesReceived == UInt64(count * 64))
        // About one re-arm per exhaustion, and few per stream (the storm made
        // hundreds per stream).
        #expect(reactor.counters.receiveRearms <= UInt64(count * 10), "\(reactor.counters.receiveRearms)")
    }

    @Test(arguments: TCPStreamTests.backends)
    func aHundredThousandRegistrationsCanBeConfigured(backend: BackendKind) throws {
        var configuration = Reactor.Configuration(backend: backend)
        configuration.maxRegistrations = 100_000
        let reactor = try Reactor(configuration)
        #expect(reactor.registrationCount == 0)
        // Every slot is free and preallocated (100,000 descriptors cannot be
        // opened here: RLIMIT_NOFILE is 20,000; the 10,000-connection test uses
        // this capacity for real).
        #expect(reactor.freeSlots.count == 100_000)
        let (_, address) = try loopbackListener(reactor, handler: AcceptingListener())
        let client = CollectingStream()
        let token = try reactor.connect(to: address, handler: client)
        try pump(reactor) { client.isConnected && reactor.registrationCount == 3 }
        #expect(token.slot < 100_000)
    }

    @Test(arguments: TCPStreamTests.backends)
    func aFullRegistrationTableRefusesAcceptsButKeepsServing(backend: BackendKind) throws {
        var configuration = Reactor.Configuration(backend: backend)
        configuration.maxRegistrations = 4     // the listener, one client, two accepted
        var logger = configuration.logger
        logger.logLevel = .critical
        configuration.logger = logger
        let reactor = try Reactor(configuration)
        let server = AcceptingListener()
        server.make = {
            let handler = CollectingStream()
            handler.onReceived = { spans, token, reactor in _ = reactor.write(token, spans.array) }
            return handler
        }
        let (_, address) = try loopbackListener(reactor, handler: server)
        let client = CollectingStream()
        let token = try reactor.connect(to: address, handler: client)
        try pump(reactor) { client.isConnected && server.accepted.count == 1 }
        #expect(reactor.registrationCount == 3)
        // Raw clients beyond the table: the first fits, the rest are accepted,
        // cannot be registered, and are closed (counted).
        var raws: [TCPStream] = []
        defer { raws.forEach { $0.close() } }
        for _ in 0..<5 { raws.append(try TCPStream.connect(to: address).stream) }
        try pump(reactor) { reactor.tcpCounters.accepted + reactor.tcpCounters.listenerErrors == 6 }
        #expect(reactor.tcpCounters.accepted == 2)
        #expect(reactor.tcpCounters.listenerErrors == 4)
        #expect(reactor.registrationCount == 4)
        // The connection already served keeps being served.
        #expect(reactor.write(token, [1, 2, 3]) == 3)
        try pump(reactor) { client.bytes == [1, 2, 3] }
        #expect(client.bytes == [1, 2, 3])
    }
}

/// Counts accepts and reports each to `observe` after handing it to `inner`.
final class CountingListener: TCPListenerHandler {
    let inner: any TCPListenerHandler
    let observe: (Reactor, Token) -> Void
    var accepted = 0

    init(_ inner: any TCPListenerHandler, observe: @escaping (Reactor, Token) -> Void) {
        self.inner = inner
        self.observe = observe
    }

    func accept(peer: SocketAddress, listener: Token, reactor: Reactor) -> (any TCPStreamHandler)? {
        accepted += 1
        let handler = inner.accept(peer: peer, listener: listener, reactor: reactor)
        observe(reactor, listener)
        return handler
    }
}
