/// Why a capture file cannot be read (further). Each message says what was
/// found and what to do about it.
public enum CaptureError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened, mapped or written.
    case io(path: String, operation: String, errno: Int32)
    /// The file starts with neither a pcap nor a pcapng magic number.
    case unknownFormat(magic: UInt32)
    /// The file ends inside a header or record that starts at `offset`.
    case truncated(offset: Int, needed: Int, available: Int)
    /// A record or block claims a length no real capture has.
    case absurdLength(offset: Int, length: UInt64)
    /// A pcapng block refers to an interface no IDB declared.
    case unknownInterface(offset: Int, interface: UInt32)
    /// A pcapng section header with a byte-order magic that is neither order.
    case badByteOrderMagic(offset: Int, value: UInt32)
    /// A structural field is out of range (pcapng block length not a multiple of 4, ...).
    case malformed(offset: Int, reason: String)

    /// What went wrong and where (the byte offset in the file), with what to check.
    public var description: String {
        switch self {
        case .io(let path, let operation, let errno):
            return "\(path): \(operation) failed (errno \(errno)); check the path and permissions"
        case .unknownFormat(let magic):
            return "not a pcap or pcapng file (magic 0x\(String(magic, radix: 16))); convert it with `editcap -F pcap IN OUT`"
        case .truncated(let offset, let needed, let available):
            return "capture cut short: the record at byte \(offset) needs \(needed) bytes, the file has \(available) left "
                + "(the recorder was probably killed; the records before it were read)"
        case .absurdLength(let offset, let length):
            return "record at byte \(offset) claims \(length) bytes (more than any capture holds); the file is corrupt"
        case .unknownInterface(let offset, let interface):
            return "pcapng block at byte \(offset) names interface \(interface), which no interface block declared; the file is corrupt"
        case .badByteOrderMagic(let offset, let value):
            return "pcapng section at byte \(offset) has byte-order magic 0x\(String(value, radix: 16)), not 0x1a2b3c4d; the file is corrupt"
        case .malformed(let offset, let reason):
            return "capture malformed at byte \(offset): \(reason)"
        }
    }
}
