/// Sequence-number ranges collected in ascending order (lost or still missing
/// messages), merged where they touch, kept up to `limit` ranges; beyond that
/// only counted, so a report names what it can and says how much it left out
/// instead of cutting the list silently.
///
/// ```swift
/// var missing = RangeList(limit: 64)
/// missing.append(101..<201)
/// missing.append(201..<301)          // merged: 101-300
/// print(missing.description)         // "101-300"
/// ```
public struct RangeList: Sendable, Equatable, CustomStringConvertible {
    /// Most ranges kept.
    public let limit: Int
    /// The ranges kept, merged, ascending.
    public private(set) var ranges: [Range<UInt64>] = []
    /// Ranges beyond `limit` (after merging) and the messages in them.
    public private(set) var moreRanges: UInt64 = 0
    /// The messages in the ranges beyond `limit`.
    public private(set) var moreMessages: UInt64 = 0
    /// Where the last appended range ended (to merge the uncounted ones too).
    var lastEnd: UInt64?

    /// An empty list keeping at most `limit` merged ranges (at least 1); beyond
    /// that only counts (`moreRanges`, `moreMessages`) grow, so memory is bounded.
    public init(limit: Int = 64) {
        precondition(limit >= 1, "a range list keeps at least one range")
        self.limit = limit
        ranges.reserveCapacity(min(limit, 1024))
    }

    /// True when no range was appended.
    public var isEmpty: Bool { ranges.isEmpty }
    /// Merged ranges in all, kept and counted.
    public var rangeCount: UInt64 { UInt64(ranges.count) + moreRanges }
    /// Messages in all ranges.
    public var messageCount: UInt64 {
        ranges.reduce(moreMessages) { $0 + ($1.upperBound - $1.lowerBound) }
    }

    /// Adds a range at or after everything appended so far (an earlier or
    /// overlapping one is trimmed to what is new).
    public mutating func append(_ range: Range<UInt64>) {
        var range = range
        if let lastEnd, range.lowerBound < lastEnd { range = lastEnd..<max(lastEnd, range.upperBound) }
        guard !range.isEmpty else { return }
        defer { lastEnd = range.upperBound }
        if lastEnd == range.lowerBound {
            if moreRanges > 0 {
                moreMessages += range.upperBound - range.lowerBound
                return
            }
            if let last = ranges.last {
                ranges[ranges.count - 1] = last.lowerBound..<range.upperBound
                return
            }
        }
        if ranges.count < limit {
            ranges.append(range)
        } else {
            moreRanges += 1
            moreMessages += range.upperBound - range.lowerBound
        }
    }

    /// All of `other`'s ranges, appended in order (with its uncounted rest).
    public mutating func append(contentsOf other: RangeList) {
        for range in other.ranges { append(range) }
        moreRanges += other.moreRanges
        moreMessages += other.moreMessages
        if other.moreRanges > 0 { lastEnd = other.lastEnd }
    }

    /// "101-200, 301" and, when ranges were only counted, "… and 412 more
    /// ranges, 4,100,000 messages"; "none" when empty.
    public var description: String {
        guard !ranges.isEmpty else { return "none" }
        var text = ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound - 1)" }
            .joined(separator: ", ")
        if moreRanges > 0 {
            text += " … and \(grouped(moreRanges)) more range\(moreRanges == 1 ? "" : "s"), \(grouped(moreMessages)) messages"
        }
        return text
    }

    /// The `missing=` value of a `key=value` line: no spaces.
    public var summaryValue: String {
        guard !ranges.isEmpty else { return "none" }
        var text = ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound - 1)" }
            .joined(separator: ",")
        if moreRanges > 0 { text += ",+\(moreRanges)ranges/\(moreMessages)messages" }
        return text
    }
}

/// 4100000 as "4,100,000".
func grouped(_ value: UInt64) -> String {
    var digits = Array(String(value))
    var index = digits.count - 3
    while index > 0 {
        digits.insert(",", at: index)
        index -= 3
    }
    return String(digits)
}
