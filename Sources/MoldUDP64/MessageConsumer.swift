/// Receives what a `Session` delivers, on the caller's thread, in sequence
/// order. A class so the session calls it without boxing; the bytes are valid
/// only during the call (copy what you keep).
///
/// ```swift
/// final class Printer: MessageConsumer {
///     func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) { print(sequence, message.count) }
/// }
/// ```
public protocol MessageConsumer: AnyObject {
    /// The message with sequence number `sequence`. Called exactly once per
    /// sequence number, in increasing order without holes (a hole is reported
    /// through `lost` at its place in the order instead).
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer)
    /// `count` messages from `firstSequence` were given up on (every re-request
    /// failed); delivery continues after them.
    func lost(firstSequence: UInt64, count: UInt64)
    /// Packets of another session arrived while locked onto `current`. Reported
    /// once per new foreign session id; the session is not switched (call
    /// `Session.switchSession(to:startingAt:)` to follow it).
    func foreignSession(_ session: SessionID, current: SessionID)
    /// End of session reached with every message up to `nextSequence` delivered
    /// or reported lost. Called once.
    func endOfSession(nextSequence: UInt64)
}

extension MessageConsumer {
    /// Default: nothing (a consumer that must not miss messages should implement it).
    public func lost(firstSequence: UInt64, count: UInt64) {}
    /// Default: nothing; the packet is dropped and counted.
    public func foreignSession(_ session: SessionID, current: SessionID) {}
    /// Default: nothing.
    public func endOfSession(nextSequence: UInt64) {}
}
