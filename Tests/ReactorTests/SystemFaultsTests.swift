import Testing
import CFeedReactor
@testable import Reactor
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Injected faults in socket setup reach the caller as typed errors, and stay
/// on the thread that injected them.
@Suite struct SystemFaultsTests {
    @Test func socketCreationFailureIsTyped() throws {
        defer { SystemFaults.reset() }
        SystemFaults.inject(.socket, errno: EMFILE)
        #expect(throws: ReactorError.system(SystemError(call: "socket", errno: EMFILE))) { try UDPSocket() }
        let error = SystemError(call: "socket", errno: EMFILE)
        #expect(error.description.contains("ulimit -n"), "the message says how to fix it")
        // Once only: the next socket is fine.
        try UDPSocket().close()
    }

    @Test func bindFailureIsTypedAndTheSocketIsClosed() throws {
        defer { SystemFaults.reset() }
        let address = try SocketAddress("127.0.0.1", port: 0)
        SystemFaults.inject(.bind, errno: EADDRINUSE)
        #expect(throws: ReactorError.system(SystemError(call: "bind(127.0.0.1:0)", errno: EADDRINUSE))) {
            try UDPSocket.bound(to: address)
        }
    }

    @Test func setsockoptFailureNamesTheOption() throws {
        defer { SystemFaults.reset() }
        SystemFaults.inject(.setsockopt, errno: ENOBUFS)
        #expect(throws: ReactorError.system(SystemError(call: "setsockopt(SO_REUSEADDR)", errno: ENOBUFS))) {
            try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        }
        let (socket, _) = try loopbackSocket()
        defer { socket.close() }
        SystemFaults.inject(.setsockopt, errno: EPERM)
        #expect(throws: ReactorError.system(SystemError(call: "setsockopt(SO_RCVBUF)", errno: EPERM))) {
            try socket.setReceiveBuffer(bytes: 1 << 20)
        }
    }

    @Test func connectAndGetsocknameFailuresAreTyped() throws {
        defer { SystemFaults.reset() }
        let (socket, address) = try loopbackSocket()
        defer { socket.close() }
        SystemFaults.inject(.connect, errno: ENETUNREACH)
        #expect(throws: ReactorError.system(SystemError(call: "connect(\(address))", errno: ENETUNREACH))) {
            try socket.connect(to: address)
        }
        SystemFaults.inject(.getsockname, errno: ENOBUFS)
        #expect(throws: ReactorError.system(SystemError(call: "getsockname", errno: ENOBUFS))) { try socket.localAddress() }
    }

    @Test func eventfdFailureFailsReactorCreation() throws {
        defer { SystemFaults.reset() }
        SystemFaults.inject(.eventfd, errno: EMFILE)
        #expect(throws: ReactorError.system(SystemError(call: "eventfd", errno: EMFILE))) { try Reactor(backend: .epoll) }
    }

    @Test func threadCreationFailureIsTyped() throws {
        defer { SystemFaults.reset() }
        SystemFaults.inject(.threadCreate, errno: EAGAIN)
        #expect(throws: ReactorError.system(SystemError(call: "pthread_create", errno: EAGAIN))) {
            try ReactorThread().start { $0.ready() }
        }
    }

    @Test func twoThreadsInjectingAtOnceDoNotSeeEachOthersFaults() throws {
        // Each thread queues its own errno for `socket` many times over, at the
        // same time, and both must see only their own.
        final class Seen: @unchecked Sendable { var errnos: [[Int32]] = [[], []] }
        let seen = Seen()
        let go = System.Latch()
        let threads = [ReactorThread(), ReactorThread()]
        let mine: [Int32] = [EMFILE, ENFILE]
        for (index, thread) in threads.enumerated() {
            try thread.start { thread in
                defer { SystemFaults.reset() }
                SystemFaults.inject(.socket, errno: mine[index], times: 500)
                thread.ready()
                go.wait()
                for _ in 0..<500 {
                    do { try UDPSocket().close() } catch let error as ReactorError {
                        if case .system(let system) = error { seen.errnos[index].append(system.errno) }
                    }
                }
                // Used up: this thread's next socket is real.
                if let socket = try? UDPSocket() { socket.close(); seen.errnos[index].append(0) }
            }
        }
        // Meanwhile this thread has no faults at all.
        go.open()
        for _ in 0..<100 { try UDPSocket().close() }
        threads.forEach { $0.join() }
        #expect(seen.errnos[0] == Array(repeating: EMFILE, count: 500) + [0])
        #expect(seen.errnos[1] == Array(repeating: ENFILE, count: 500) + [0])
    }
}
