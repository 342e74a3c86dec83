import Testing
import Glibc
import CFeedReactor
@testable import Reactor
import TestSupport

/// Records readiness of a plain descriptor; reads or writes only when told to.
final class ReadinessRecorder: DescriptorHandler {
    var readable = 0
    var writable = 0
    var errors: [any Error] = []
    var onReadable: ((Token, Reactor) -> Void)?
    var onWritable: ((Token, Reactor) -> Void)?

    func readable(token: Token, reactor: Reactor) {
        readable += 1
        onReadable?(token, reactor)
    }

    func writable(token: Token, reactor: Reactor) {
        writable += 1
        onWritable?(token, reactor)
    }

    func failed(_ error: any Error, token: Token, reactor: Reactor) { errors.append(error) }
}

/// Plain descriptor registrations (pipes, timerfds) on every backend.
@Suite struct DescriptorTests {
    static func write(_ fd: Int32, _ bytes: [UInt8]) throws {
        _ = try bytes.withUnsafeBytes { raw throws(SystemError) in try System.write(fd, raw) }
    }

    /// Reads what is there; returns the byte count.
    static func drain(_ fd: Int32) -> Int {
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let result = buffer.withUnsafeMutableBytes { raw in try? System.read(fd, into: raw) }
            guard case .processed(let n)? = result, n > 0 else { return total }
            total += n
        }
    }

    @Test(arguments: TestEnvironment.backends)
    func pipeReadableIsLevelTriggeredAndWritableToggles(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let pipe = try System.pipe()
        defer { System.close(pipe.read); System.close(pipe.write) }
        let reader = ReadinessRecorder()
        let readToken = try reactor.register(descriptor: pipe.read, interest: .readable, handler: reader)
        // Nothing written: no readiness.
        for _ in 0..<3 { try reactor.poll() }
        #expect(reader.readable == 0)

        try Self.write(pipe.write, [1, 2, 3])
        try pump(reactor, cycles: 200) { reader.readable >= 1 }
        #expect(reader.readable >= 1)
        // Left unread: reported again (level-triggered, both backends).
        let seen = reader.readable
        try pump(reactor, cycles: 200) { reader.readable > seen }
        #expect(reader.readable > seen)
        #expect(Self.drain(pipe.read) == 3)
        try reactor.poll()   // (io_uring: the poll re-armed after the drain completes no more)
        let afterDrain = reader.readable
        for _ in 0..<5 { try reactor.poll() }
        #expect(reader.readable == afterDrain)

        // The write end: writable only while that interest is set.
        let writer = ReadinessRecorder()
        let writeToken = try reactor.register(descriptor: pipe.write, interest: [], handler: writer)
        for _ in 0..<3 { try reactor.poll() }
        #expect(writer.writable == 0)
        try reactor.setInterest(writeToken, .writable)
        #expect(reactor.interest(of: writeToken) == .writable)
        try pump(reactor, cycles: 200) { writer.writable >= 2 }
        #expect(writer.writable >= 2)
        try reactor.setInterest(writeToken, [])
        try reactor.poll()
        let frozen = writer.writable
        for _ in 0..<5 { try reactor.poll() }
        #expect(writer.writable == frozen)
        #expect(reactor.deregister(readToken))
        #expect(reactor.deregister(writeToken))
        // The pipe is still the caller's: writing works.
        try Self.write(pipe.write, [9])
        #expect(Self.drain(pipe.read) == 1)
        #expect(reader.errors.isEmpty && writer.errors.isEmpty)
    }

    @Test(arguments: TestEnvironment.backends)
    func timerfdTicksAreReadable(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let timer = try System.timerfdCreate()
        let ticks = ReadinessRecorder()
        var expirations: UInt64 = 0
        ticks.onReadable = { _, _ in
            var value: UInt64 = 0
            if case .processed(8)? = withUnsafeMutableBytes(of: &value, { try? System.read(timer, into: $0) }) {
                expirations += value
            }
        }
        // The reactor closes it: registered with closeOnDeregister.
        let token = try reactor.register(descriptor: timer, interest: .readable, closeOnDeregister: true, handler: ticks)
        try System.timerfdSet(timer, initial: 1_000_000, interval: 1_000_000)
        try pump(reactor, cycles: 500, timeout: 20_000_000) { expirations >= 3 }
        #expect(expirations >= 3)
        #expect(reactor.deregister(token))
        // Closed by the reactor: the descriptor number is no longer ours.
        #expect(fr_close(timer) == -EBADF)
    }

    @Test(arguments: TestEnvironment.backends)
    func deregisterInsideReadableAndWritable(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let pipe = try System.pipe()
        defer { System.close(pipe.read); System.close(pipe.write) }
        let reader = ReadinessRecorder()
        let writer = ReadinessRecorder()
        // Both directions on one registration each; each handler deregisters itself.
        reader.onReadable = { token, reactor in _ = reactor.deregister(token) }
        writer.onWritable = { token, reactor in _ = reactor.deregister(token) }
        let readToken = try reactor.register(descriptor: pipe.read, interest: .readable, handler: reader)
        let writeToken = try reactor.register(descriptor: pipe.write, interest: .writable, handler: writer)
        try Self.write(pipe.write, [7])
        try pump(reactor, cycles: 200) { reader.readable == 1 && writer.writable == 1 }
        for _ in 0..<5 { try reactor.poll() }
        #expect(reader.readable == 1)
        #expect(writer.writable == 1)
        #expect(reactor.registrationCount == 0)
        #expect(throws: ReactorError.unknownToken(readToken)) { try reactor.setInterest(readToken, .writable) }
        #expect(!reactor.deregister(writeToken))
    }

    @Test(arguments: TestEnvironment.backends)
    func setInterestFromInsideACallback(backend: BackendKind) throws {
        let reactor = try Reactor(backend: backend)
        let pipe = try System.pipe()
        defer { System.close(pipe.read); System.close(pipe.write) }
        let handler = ReadinessRecorder()
        // Writable once, then switch to readable; reading drains.
        handler.onWritable = { token, reactor in
            try? Self.write(pipe.write, [1])
            try? reactor.setInterest(token, [])
        }
        let writeToken = try reactor.register(descriptor: pipe.write, interest: .writable, handler: handler)
        try pump(reactor, cycles: 200) { handler.writable == 1 }
        for _ in 0..<5 { try reactor.poll() }
        #expect(handler.writable == 1)
        #expect(reactor.interest(of: writeToken) == [])
        #expect(Self.drain(pipe.read) == 1)
    }

    @Test func datagramSocketsRefuseSetInterest() throws {
        let reactor = try Reactor(backend: .epoll)
        let (socket, _) = try loopbackSocket()
        let token = try reactor.register(socket, handler: CollectingHandler())
        #expect(throws: ReactorError.self) { try reactor.setInterest(token, .writable) }
    }
}
