/// What the receiver is promised about a message (the reference rudp's tiers).
public enum Guarantee: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Delivered at once on arrival, 0 or more times, in any order. Never resent.
    case none = 0
    /// At most once, never resent, and never delivered after an ordered message
    /// sent later (a late one is dropped and counted).
    case order = 1
    /// Exactly once, in order, resent until acknowledged.
    case delivery = 2

    /// `none`, `order` or `delivery`.
    public var description: String {
        switch self {
        case .none: "none"
        case .order: "order"
        case .delivery: "delivery"
        }
    }
}
