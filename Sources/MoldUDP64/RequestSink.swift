/// Where a `Rerequester` sends its decisions: a class (the reactor `Client`, or
/// a test rig) that encodes and sends request packets and reports losses.
///
/// ```swift
/// final class Sender: RequestSink {
///     func sendRequest(serverIndex: Int, session: SessionID, firstSequence: UInt64, count: UInt16) {
///         // encode the 20-byte request, send it to servers[serverIndex]
///     }
///     func unrecoverable(firstSequence: UInt64, count: UInt64) {}
/// }
/// ```
public protocol RequestSink: AnyObject {
    /// Send a MoldUDP64 request packet (session, first sequence number, count)
    /// to the configured server `serverIndex`. `count` is 1...0xFFFE. A send that
    /// fails may be ignored: the request times out and is retried.
    func sendRequest(serverIndex: Int, session: SessionID, firstSequence: UInt64, count: UInt16)
    /// `count` messages from `firstSequence` could not be recovered after every
    /// retry. The session reports them to its consumer as lost, in order.
    func unrecoverable(firstSequence: UInt64, count: UInt64)
    /// Server `serverIndex` missed `timeouts` answers in a row: it is skipped (requests
    /// fail over to the others) until `until` nanoseconds, then probed again.
    func serverSkipped(serverIndex: Int, timeouts: Int, until: UInt64)
}

extension RequestSink {
    /// Default: nothing.
    public func unrecoverable(firstSequence: UInt64, count: UInt64) {}
    /// Default: nothing.
    public func serverSkipped(serverIndex: Int, timeouts: Int, until: UInt64) {}
}
