// swift run -c release NIOReceiver --address 127.0.0.1 --port 41000 --rcvbuf 1073741823 --start-file /tmp/go
//
// The SwiftNIO receiver compare.sh measures the reactor against: a
// DatagramBootstrap channel reading 64 datagrams of up to 2048 bytes per
// recvmmsg, with the command line and output of `feedreactor rx-bench`:
// `ready` on stderr once bound (and joined), nothing read until the start file
// exists, then one stdout line `pps=<n> received=<n> gaps=<n>` after the
// datagram with sequence number 2^64-1.

import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

struct Arguments {
    var address = ""
    var port = -1
    var interface: String?
    var receiveBuffer = 0
    var startFile: String?

    static let usage = "usage: NIOReceiver --address A --port P [--interface ADDR] [--rcvbuf BYTES] [--start-file PATH] [--idle block|spin]"

    static func parse(_ arguments: [String]) -> Arguments {
        var result = Arguments()
        var index = 1
        while index < arguments.count {
            let option = arguments[index]
            guard index + 1 < arguments.count else { fail("\(option) needs a value") }
            let value = arguments[index + 1]
            index += 2
            switch option {
            case "--address": result.address = value
            case "--port": result.port = Int(value) ?? -1
            case "--interface": result.interface = value
            case "--rcvbuf":
                guard let bytes = Int(value), bytes >= 0 else { fail("--rcvbuf takes a byte count") }
                result.receiveBuffer = bytes
            case "--start-file": result.startFile = value
            case "--idle":
                // NIO's event loop always blocks in epoll_wait; spin is accepted
                // for command-line parity with rx-bench and has no effect.
                guard value == "block" || value == "spin" else { fail("--idle is block or spin") }
            default: fail("unknown option \(option)")
            }
        }
        guard !result.address.isEmpty, (0...65535).contains(result.port) else { fail("--address and --port are required") }
        return result
    }

    static func fail(_ problem: String) -> Never {
        FileHandleStderr.write("NIOReceiver: \(problem)\n\(usage)\n")
        exit(2)
    }
}

enum FileHandleStderr {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// Which sequence numbers arrived, as in the C baselines: a bitmap over a
/// window that starts a little below the first number seen, reserved with
/// MAP_NORESERVE so only touched pages cost memory.
struct SequenceTracker {
    static let windowBits: UInt64 = 1 << 32
    static let margin: UInt64 = 1 << 20

    let bits: UnsafeMutablePointer<UInt64>
    var base: UInt64 = 0
    var first: UInt64 = 0
    var last: UInt64 = 0
    var received: UInt64 = 0
    var distinct: UInt64 = 0
    var duplicates: UInt64 = 0
    var outside: UInt64 = 0
    var started = false

    init() {
        let raw = mmap(nil, Int(Self.windowBits / 8), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let raw, raw != MAP_FAILED else {
            FileHandleStderr.write("NIOReceiver: mmap of the sequence bitmap failed (errno \(errno))\n")
            exit(1)
        }
        // Safety: a fresh anonymous mapping of windowBits/8 bytes, 8-byte aligned, zero-filled.
        bits = raw.bindMemory(to: UInt64.self, capacity: Int(Self.windowBits / 64))
    }

    @inline(__always)
    mutating func see(_ sequence: UInt64) {
        if !started {
            started = true
            base = sequence > Self.margin ? sequence - Self.margin : 0
            first = sequence
            last = sequence
        }
        received &+= 1
        if sequence < first { first = sequence }
        if sequence > last { last = sequence }
        guard sequence >= base, sequence - base < Self.windowBits else { outside &+= 1; return }
        let offset = sequence - base
        let word = Int(offset >> 6)
        let mask: UInt64 = 1 << (offset & 63)
        if bits[word] & mask != 0 { duplicates &+= 1; return }
        bits[word] |= mask
        distinct &+= 1
    }

    var gaps: UInt64 {
        guard started else { return 0 }
        let span = last - first + 1
        let seen = distinct + outside
        return span > seen ? span - seen : 0
    }
}

@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Tracks sequence numbers and times the drain from the first data datagram to
/// the end marker; on the end marker prints the result line and closes.
final class DrainHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    var tracker = SequenceTracker()
    var firstNanoseconds: UInt64 = 0
    var lastNanoseconds: UInt64 = 0
    var finished = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard !finished, let sequence = envelope.data.getInteger(at: envelope.data.readerIndex, endianness: .little,
                                                                 as: UInt64.self) else { return }
        if sequence == UInt64.max {
            finished = true
            lastNanoseconds = monotonicNanoseconds()
            report()
            context.close(promise: nil)
            return
        }
        if !tracker.started { firstNanoseconds = monotonicNanoseconds() }
        tracker.see(sequence)
    }

    func report() {
        let elapsed = lastNanoseconds > firstNanoseconds ? lastNanoseconds - firstNanoseconds : 0
        let pps = elapsed > 0 ? Double(tracker.received) * 1e9 / Double(elapsed) : 0
        if tracker.duplicates > 0 || tracker.outside > 0 {
            FileHandleStderr.write("duplicates=\(tracker.duplicates) outside_window=\(tracker.outside)\n")
        }
        print("pps=\(UInt64(pps.rounded())) received=\(tracker.received) gaps=\(tracker.gaps)")
        fflush(nil)
    }
}

// SO_RCVBUFFORCE (Linux 2.6.14+) lifts the net.core.rmem_max cap for root;
// IP_MULTICAST_ALL off makes a multicast socket receive only the groups it
// joined (ip(7)). Neither has a named NIO option, so they go in as raw ones.
let soRcvbufForce = ChannelOptions.Types.SocketOption(level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET),
                                                      name: NIOBSDSocket.Option(rawValue: SO_RCVBUFFORCE))
let ipMulticastAll = ChannelOptions.Types.SocketOption(level: NIOBSDSocket.OptionLevel(rawValue: CInt(IPPROTO_IP)),
                                                       name: NIOBSDSocket.Option(rawValue: IP_MULTICAST_ALL))

let arguments = Arguments.parse(CommandLine.arguments)
let isMulticast = arguments.address.split(separator: ".").first.flatMap { Int($0) }.map { (224...239).contains($0) } ?? false
let handler = DrainHandler()
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

do {
    var bootstrap = DatagramBootstrap(group: group)
        .channelOption(.socketOption(.so_reuseaddr), value: 1)
        .channelOption(.datagramVectorReadMessageCount, value: 64)
        // Vector reads split one buffer evenly: 64 x 2048 bytes per recvmmsg.
        .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 64 * 2048))
        // Nothing is read until the start file exists (see below).
        .channelOption(.autoRead, value: false)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
        }
    if arguments.receiveBuffer > 0 {
        let bytes = Int(CInt(clamping: arguments.receiveBuffer))
        bootstrap = geteuid() == 0
            ? bootstrap.channelOption(soRcvbufForce, value: bytes)
            : bootstrap.channelOption(.socketOption(.so_rcvbuf), value: bytes)
    }
    let channel = try bootstrap.bind(host: arguments.address, port: arguments.port).wait()
    if isMulticast {
        // Joined with a raw IP_ADD_MEMBERSHIP: NIO's joinGroup refuses a device
        // without IFF_MULTICAST, and lo has none, although the kernel delivers
        // multicast on it when the join names its address.
        guard let options = channel as? SocketOptionProvider else { Arguments.fail("the channel has no socket options") }
        var request = ip_mreqn()
        guard inet_pton(AF_INET, arguments.address, &request.imr_multiaddr) == 1,
              inet_pton(AF_INET, arguments.interface ?? "0.0.0.0", &request.imr_address) == 1 else {
            Arguments.fail("--address and --interface take IPv4 addresses (a.b.c.d)")
        }
        try channel.setOption(ipMulticastAll, value: 0).wait()
        try options.unsafeSetSocketOption(level: NIOBSDSocket.OptionLevel(rawValue: CInt(IPPROTO_IP)),
                                          name: NIOBSDSocket.Option(rawValue: IP_ADD_MEMBERSHIP),
                                          value: request).wait()
    }
    FileHandleStderr.write("ready\n")

    if let startFile = arguments.startFile {
        var status = stat()
        while stat(startFile, &status) != 0 { usleep(100) }
    }
    try channel.setOption(.autoRead, value: true).wait()
    try channel.closeFuture.wait()
    try group.syncShutdownGracefully()
} catch {
    FileHandleStderr.write("NIOReceiver: \(error)\n")
    exit(1)
}
