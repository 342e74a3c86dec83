import ArgumentParser
import CFeedReactor
import Reactor

/// `feedreactor demo`: until the MoldUDP64 feed lands, a loopback self-test of
/// the reactor: a sender blasts sequence-numbered datagrams at a registered
/// socket and the demo reports what arrived and how fast.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the main job: a loopback feed through the reactor.")

    @Option(help: "Datagrams to send.") var count: Int = 200_000
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .auto

    func run() throws {
        let reactor = try Reactor(backend: backend)
        let receiver = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        try receiver.setReceiveBuffer(bytes: 64 << 20)
        let address = try receiver.localAddress()
        let counter = SequenceCounter()
        try reactor.register(receiver, handler: counter)
        let sender = try UDPSocket.bound(to: SocketAddress("127.0.0.1", port: 0))
        defer { sender.close() }
        var payload = [UInt8](repeating: 0, count: 64)
        let start = fr_monotonic_ns()
        var sent = 0
        while sent < count {
            // Send a burst, then let the reactor drain: one thread, no loss.
            for _ in 0..<256 where sent < count {
                withUnsafeBytes(of: UInt64(sent).littleEndian) { payload.replaceSubrange(0..<8, with: $0) }
                if case .processed = try sender.send(payload, to: address) { sent += 1 }
            }
            while try reactor.poll() > 0 {}
        }
        withUnsafeBytes(of: UInt64.max.littleEndian) { payload.replaceSubrange(0..<8, with: $0) }
        try sender.send(payload, to: address)
        try reactor.run(idle: .block)
        let seconds = Double(fr_monotonic_ns() - start) / 1e9
        print(counter.summary())
        note("demo: backend=\(reactor.backendKind) sent=\(sent) in \(fixed(seconds)) s")
    }
}
