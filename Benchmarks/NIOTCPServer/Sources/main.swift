// swift run -c release NIOTCPServer sink --listen 127.0.0.1:47000
// swift run -c release NIOTCPServer echo --listen 127.0.0.1:47000
//
// The SwiftNIO TCP servers tcp.sh measures `feedreactor tcp-bench` against,
// with its command line and output:
// - sink: accepts one connection, reads until EOF (NIO's adaptive allocator,
//   up to 256 KiB per read), prints `gbps=<x> bytes=<n>` from first to last byte;
// - echo: echoes every connection (write + flush per read), until killed.
// Both say `ready` on stderr once listening. One event loop thread, as the
// reactor has one.

import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Writes to a descriptor directly (stdio's globals are not concurrency-safe).
func emit(_ text: String, to fd: Int32) {
    var text = text
    text.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
}

func fail(_ problem: String) -> Never {
    emit("NIOTCPServer: \(problem)\nusage: NIOTCPServer sink|echo --listen ADDR:PORT [--idle block|spin] [--max-connections N]\n", to: 2)
    exit(2)
}

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

final class SinkHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var total = 0
    var first: UInt64 = 0
    var last: UInt64 = 0
    let done: @Sendable () -> Void

    init(done: @escaping @Sendable () -> Void) { self.done = done }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let now = monotonicNanoseconds()
        if total == 0 { first = now }
        last = now
        total += buffer.readableBytes
    }

    func channelInactive(context: ChannelHandlerContext) {
        let seconds = Double(last - first) / 1e9
        let gbps = seconds > 0 ? Double(total) * 8 / seconds / 1e9 : 0
        let milli = Int((gbps * 1000).rounded())
        let fraction = String(milli % 1000)
        emit("gbps=\(milli / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction) bytes=\(total)\n", to: 1)
        done()
    }
}

final class EchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, arguments[1] == "sink" || arguments[1] == "echo" else { fail("sink or echo first") }
let mode = arguments[1]
var listen = ""
var index = 2
while index < arguments.count {
    guard index + 1 < arguments.count else { fail("\(arguments[index]) needs a value") }
    switch arguments[index] {
    case "--listen": listen = arguments[index + 1]
    case "--idle", "--max-connections", "--backend": break   // parity with tcp-bench; NIO always blocks in epoll_wait
    default: fail("unknown option \(arguments[index])")
    }
    index += 2
}
guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
    fail("--listen ADDR:PORT is required")
}
let host = String(listen[..<colon])

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let finished = group.next().makePromise(of: Void.self)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(ChannelOptions.backlog, value: 1024)
    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
    .childChannelOption(ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024))
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            if mode == "sink" {
                try channel.pipeline.syncOperations.addHandler(SinkHandler(done: { finished.succeed(()) }))
            } else {
                try channel.pipeline.syncOperations.addHandler(EchoHandler())
            }
        }
    }
do {
    let server = try bootstrap.bind(host: host, port: port).wait()
    emit("ready\n", to: 2)
    if mode == "sink" {
        try finished.futureResult.wait()
    } else {
        try server.closeFuture.wait()
    }
    try? server.close().wait()
    try group.syncShutdownGracefully()
} catch {
    fail("\(error)")
}
