import ArgumentParser
import CFeedReactor
import MoldUDP64
import Reactor
import SoupBinTCP

/// `feedreactor soup-bench`: SoupBinTCP replay throughput over loopback. A
/// server thread (its own reactor) holds a session of --messages messages in a
/// `RetransmissionStore` (filled in place before the clock starts) and has
/// already ended it; the client (this thread, its own reactor) logs in at 1
/// and receives everything up to End of Session. Prints one line:
/// `msgs_per_s=<x> gbps=<x> messages=<n> bytes=<n> seconds=<s>` (bytes on the
/// wire: SoupBinTCP framing included), timed from the login to End of Session.
struct SoupBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soup-bench", abstract: "SoupBinTCP replay throughput of a stored session over loopback.")

    @Option(parsing: .unconditional, help: "Messages in the session.", transform: wholeNumber("--messages", 1...100_000_000))
    var messages: UInt64 = 10_000_000
    @Option(parsing: .unconditional, help: "Bytes per message.", transform: wholeNumber("--size", 1...1000)) var size: Int = 32
    @Option(help: "auto, epoll or uring.") var backend: BackendKind = .epoll
    @Option(name: .customLong("server-cpu"), help: "Pin the server thread to this CPU.") var serverCPU: Int?
    @Option(name: .customLong("client-cpu"), help: "Pin the client thread to this CPU.") var clientCPU: Int?
    @Option(help: "Give up after this many seconds (exit 1).") var timeout: Double = 120

    func run() throws {
        let store = SoupBench.numberedStore(messages: messages, size: size)
        let server = ServerThread(store: store, backend: backend)
        try server.thread.start(pinnedTo: serverCPU) { thread in try server.main(thread) }
        defer { server.stop() }
        guard let address = server.address else { throw ValidationError("soup-bench: the server did not start") }

        if let clientCPU { _ = fr_pin_to_cpu(Int32(clientCPU)) }
        let reactor = try Reactor(backend: backend)
        let counter = CountingConsumer()
        let client = try SoupClient(configuration: .init(firstSequence: 1), consumer: counter)
        client.onEvent = { event in if case .loginAccepted = event { counter.started = fr_monotonic_ns() } }
        let tcp = try SoupTCPClient(client: client, server: address, reactor: reactor,
                                    configuration: .init(stream: TCPStreamOptions(receiveCapacity: 256 * 1024)))
        tcp.onFinished = { _ in counter.ended = fr_monotonic_ns(); reactor.stop() }
        let deadline = Stopper()
        try reactor.schedule(after: Nanoseconds.seconds(timeout), handler: deadline)
        try reactor.run(idle: .block)
        guard tcp.outcome == .endOfSession, counter.count == messages else {
            throw ValidationError("soup-bench: got \(counter.count) of \(messages) messages (\(tcp.outcome.map(\.description) ?? "timed out"))")
        }
        let seconds = Double(counter.ended &- counter.started) / 1e9
        let bytes = counter.bytes + 3 * counter.count
        print("msgs_per_s=\(Int(Double(counter.count) / seconds)) gbps=\(fixed(Double(bytes) * 8 / seconds / 1e9)) "
              + "messages=\(counter.count) bytes=\(bytes) seconds=\(fixed(seconds))")
    }

    /// A store of messages 1...messages of `size` bytes (0x5A, the first 8 the
    /// sequence number), filled in place from one buffer.
    static func numberedStore(messages: UInt64, size: Int) -> RetransmissionStore {
        // At least 64 KiB: the store must fit any MoldUDP64 message.
        let store = RetransmissionStore(messageCapacity: Int(messages) + 1, byteCapacity: max(Int(messages) * size + 1, 1 << 16))
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { payload.deallocate() }
        payload.initializeMemory(as: UInt8.self, repeating: 0x5A)
        for sequence in 1...messages {
            payload.storeBytes(of: sequence.littleEndian, toByteOffset: 0, as: UInt64.self)
            _ = store.append(UnsafeRawBufferPointer(payload))
        }
        return store
    }

    /// Counts what arrives.
    final class CountingConsumer: MessageConsumer {
        var count: UInt64 = 0
        var bytes: UInt64 = 0
        var started: UInt64 = 0
        var ended: UInt64 = 0
        func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) {
            count &+= 1
            bytes &+= UInt64(message.count)
        }
    }

    /// The server side on its own thread and reactor.
    final class ServerThread: @unchecked Sendable {
        let store: RetransmissionStore
        let backend: BackendKind
        let thread = ReactorThread()
        var address: SocketAddress?
        var remote: RemoteHandle?
        var soup: SoupTCPServer?

        init(store: RetransmissionStore, backend: BackendKind) {
            self.store = store
            self.backend = backend
        }

        func main(_ thread: ReactorThread) throws {
            let reactor = try Reactor(backend: backend)
            remote = reactor.remote
            let server = try SoupServer(configuration: .init(session: "BENCH"), store: store)
            server.endSession()
            var options = TCPListenerOptions()
            options.stream.sendCapacity = 256 * 1024
            let soup = try SoupTCPServer(server: server, address: SocketAddress("127.0.0.1", port: 0), reactor: reactor,
                                         options: options)
            self.soup = soup
            address = soup.localAddress
            thread.ready()
            try reactor.run(idle: .block)
        }

        func stop() {
            remote?.stop()
            thread.join()
        }
    }
}
