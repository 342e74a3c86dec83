// swift run -c release EmbeddedLoop --port 41000
//
// Embedding a FeedReactor in a loop the program already has. The host owns an
// epoll set (here with stdin in it); the reactor is one more descriptor there.
// When that descriptor is readable, or the reactor's next timer is due, the host
// calls `reactor.poll()`, which never blocks. Type lines on stdin; send datagrams
// with `echo hi | nc -u -w0 127.0.0.1 41000`. Ctrl-D ends it.
import CFeedReactor
import Reactor
#if canImport(Glibc)
import Glibc
#endif

final class Printer: DatagramHandler {
    func receive(_ batch: DatagramBatch, reactor: Reactor) {
        for datagram in batch {
            print("datagram: \(datagram.count) bytes from \(datagram.source.map(\.description) ?? "?")")
        }
    }
}

final class Ticker: TimerHandler {
    var ticks = 0
    func timerFired(_ timer: TimerHandle, tag: UInt64, now: UInt64, reactor: Reactor) {
        ticks += 1
        print("tick \(ticks) (reactor timer, every second)")
    }
}

var port: UInt16 = 41000
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    if argument == "--port", let value = arguments.popFirst().flatMap(UInt16.init) { port = value }
}

let reactor = try Reactor(backend: .auto)
try reactor.register(UDPSocket.bound(to: SocketAddress("127.0.0.1", port: port)), handler: Printer())
try reactor.schedule(after: 1_000_000_000, period: 1_000_000_000, handler: Ticker())

// The host's own loop: its epoll set holds stdin and the reactor's descriptor.
let host = fr_epoll_create()
let stdinTag: UInt64 = 1, reactorTag: UInt64 = 2
_ = fr_epoll_ctl(host, EPOLL_CTL_ADD, 0, UInt32(EPOLLIN.rawValue), stdinTag)
_ = fr_epoll_ctl(host, EPOLL_CTL_ADD, reactor.descriptor, UInt32(EPOLLIN.rawValue), reactorTag)
let events = UnsafeMutableRawPointer.allocate(byteCount: 8 * fr_epoll_event_size(), alignment: 8)
    .assumingMemoryBound(to: epoll_event.self)
print("listening on 127.0.0.1:\(port) (backend \(reactor.backendKind)); type lines, Ctrl-D to quit")

var running = true
while running {
    // Wait for either source, but no longer than the reactor's next timer.
    let n = fr_epoll_wait(host, events, 8, reactor.nanosecondsUntilNextTimer)
    for i in 0..<max(0, Int(n)) where fr_epoll_event_data(events, Int32(i)) == stdinTag {
        guard let line = readLine() else { running = false; break }
        print("stdin: \(line)")
    }
    // Timers and datagrams: poll() does whatever is due and returns at once.
    try reactor.poll()
}
