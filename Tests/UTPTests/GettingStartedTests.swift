// The code of Sources/UTP/UTP.docc/GettingStartedWithUTP.md, line for line
// (DocumentationArticleTests checks that), run and checked.

import Testing
import TestSupport
import Reactor
import UTP

/// Accepts streams and echoes what each sends, then finishes its own half.
final class EchoServer: UTPAcceptor, UTPStreamDelegate {
    func accepted(_ stream: UTPStream, on socket: UTPSocket) {
        stream.delegate = self           // the connection keeps the stream alive
    }
    func received(_ bytes: UnsafeRawBufferPointer, on stream: UTPStream) {
        _ = stream.write(bytes)          // copies; returns what fit (backpressure)
    }
    func endOfStream(_ stream: UTPStream) { stream.shutdown() }
}

/// Sends one line, finishes its half, and collects the echo until the server's FIN.
final class Caller: UTPStreamDelegate {
    var echoed: [UInt8] = []
    func connected(_ stream: UTPStream) {
        _ = Array("hello over µTP".utf8).withUnsafeBytes { stream.write($0) }
        stream.shutdown()                // FIN after the queued bytes
    }
    func received(_ bytes: UnsafeRawBufferPointer, on stream: UTPStream) {
        echoed += bytes                  // a copy: the view ends with this call
    }
    func endOfStream(_ stream: UTPStream) { stream.socket.reactor.stop() }
}

@Suite struct UTPGettingStartedTests {
    @Test func echoOverLoopback() throws {
        let reactor = try Reactor()
        let listener = try UTPSocket(reactor: reactor, bindTo: SocketAddress("127.0.0.1", port: 0))
        let server = EchoServer()
        listener.acceptor = server       // held weakly: keep `server`

        let dialer = try UTPSocket(reactor: reactor, bindTo: SocketAddress("127.0.0.1", port: 0))
        let caller = Caller()
        let stream = try dialer.connect(to: listener.localAddress)
        stream.delegate = caller

        let watchdog = RecordingTimer()   // stops a reactor that ran too long (not in the article)
        watchdog.onFire = { _, _, reactor in reactor.stop() }
        try reactor.schedule(after: Nanoseconds.seconds(UInt64(10)), handler: watchdog)
        try reactor.run()   // until the caller has the whole echo
        print(String(decoding: caller.echoed, as: UTF8.self), stream.statistics.bytesReceived)
        listener.close()
        dialer.close()
        reactor.close()

        #expect(watchdog.fired.isEmpty)
        #expect(String(decoding: caller.echoed, as: UTF8.self) == "hello over µTP")
        #expect(stream.statistics.bytesReceived == UInt64(caller.echoed.count))
    }
}
