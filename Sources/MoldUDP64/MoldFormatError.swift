/// Malformed MoldUDP64 input, or a value that cannot be put on the wire.
public enum MoldFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A session name longer than the 10 bytes MoldUDP64 gives it; the text is the name.
    case sessionTooLong(String)
    /// A session name with a byte outside printable ASCII (0x20...0x7E).
    case sessionNotPrintableASCII(String)
    /// A request packet is exactly 20 bytes; this one was not.
    case requestLength(Int)
    /// Sequence numbers start at 1 (MoldUDP64 1.00), so a request for 0 is invalid.
    case requestSequenceZero
    /// A request for no messages asks for nothing.
    case requestCountZero

    /// What is wrong with the input, with the limit it broke.
    public var description: String {
        switch self {
        case .sessionTooLong(let text):
            return "session '\(text)' is longer than 10 characters; MoldUDP64 sessions are 10 ASCII bytes"
        case .sessionNotPrintableASCII(let text):
            return "session '\(text)' has non-printable or non-ASCII characters; use letters, digits and spaces"
        case .requestLength(let length):
            return "request packet of \(length) bytes; a MoldUDP64 request is exactly 20 (session, sequence, count)"
        case .requestSequenceZero:
            return "request for sequence number 0; MoldUDP64 sequence numbers start at 1"
        case .requestCountZero:
            return "request for 0 messages; ask for at least 1"
        }
    }
}
