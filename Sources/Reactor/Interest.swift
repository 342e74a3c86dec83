/// Which readiness a registration wants to hear about: readable, writable, both
/// or neither. Changed on a live registration with `Reactor.setInterest(_:_:)`.
///
/// ```swift
/// let token = try reactor.register(descriptor: pipe.read, interest: .readable, handler: reader)
/// try reactor.setInterest(token, [.readable, .writable])
/// ```
public struct Interest: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The bits: 1 readable, 2 writable.
    public let rawValue: UInt8

    /// An interest from its bits (`rawValue`); prefer `.readable` and `.writable`.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Data (or end of file, or an error) is waiting to be read.
    public static let readable = Interest(rawValue: 1)
    /// The descriptor accepts more output.
    public static let writable = Interest(rawValue: 2)

    /// `[]`, `[readable]`, `[writable]` or `[readable, writable]`.
    public var description: String {
        switch self {
        case []: return "[]"
        case .readable: return "readable"
        case .writable: return "writable"
        default: return "readable|writable"
        }
    }
}
