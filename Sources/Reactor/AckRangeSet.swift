/// The set of packet numbers received, as at most `capacity` disjoint ranges,
/// highest first: what a receiver acknowledges (RFC 9000 §13.2.3's "ACK
/// ranges", µTP's selective ACK). Storage is allocated in `init`; `insert` and
/// `contains` allocate nothing.
///
/// When a new range would exceed `capacity`, the lowest range is forgotten and
/// everything below the lowest range still kept counts as already seen
/// (`floor`): a very late duplicate is then refused rather than delivered twice.
///
/// ```swift
/// let received = AckRangeSet(capacity: 32)
/// if received.insert(packetNumber) { process() } else { countDuplicate() }
/// received.forEach { low, high in encode(low, high) }
/// ```
public final class AckRangeSet {
    /// The most disjoint ranges held, fixed at `init`. When an insert would need one
    /// more, the lowest range is forgotten and `floor` rises past it.
    public let capacity: Int
    @usableFromInline let lows: UnsafeMutablePointer<UInt64>
    @usableFromInline let highs: UnsafeMutablePointer<UInt64>
    /// Number of ranges held.
    public private(set) var count = 0
    /// Packet numbers below this count as seen (ranges forgotten for capacity).
    public private(set) var floor: UInt64 = 0

    /// Creates an empty set holding at most `capacity` ranges (at least 1). Both range
    /// arrays are allocated here, once; nothing later allocates.
    public init(capacity: Int = 32) {
        precondition(capacity >= 1, "AckRangeSet capacity must be at least 1")
        self.capacity = capacity
        lows = .allocate(filledWith: 0, count: capacity + 1)
        highs = .allocate(filledWith: 0, count: capacity + 1)
    }

    deinit {
        lows.deallocate()
        highs.deallocate()
    }

    /// True when nothing was inserted since `init` or `removeAll()`.
    public var isEmpty: Bool { count == 0 }
    /// The highest number inserted (undefined when empty).
    public var largest: UInt64 { highs[0] }

    /// True when `value` was inserted, or lies below `floor` (forgotten ranges count
    /// as seen, so an old duplicate is never processed twice). O(`count`).
    public func contains(_ value: UInt64) -> Bool {
        if value < floor { return true }
        for index in 0..<count where lows[index] <= value && value <= highs[index] { return true }
        return false
    }

    /// Adds `value`; false when it was already there (or below `floor`).
    @discardableResult
    public func insert(_ value: UInt64) -> Bool {
        if value < floor { return false }
        // Ranges are sorted by high, descending, and separated by gaps >= 1.
        var index = 0
        while index < count && highs[index] > value && lows[index] > value { index += 1 }
        // Now: index == count, or highs[index] <= value... or value inside range index.
        if index < count && lows[index] <= value && value <= highs[index] { return false }
        // value lies between range index-1 (above) and range index (below).
        let joinsAbove = index > 0 && lows[index - 1] == value &+ 1
        let joinsBelow = index < count && highs[index] &+ 1 == value
        switch (joinsAbove, joinsBelow) {
        case (true, true):
            lows[index - 1] = lows[index]
            remove(at: index)
        case (true, false):
            lows[index - 1] = value
        case (false, true):
            highs[index] = value
        case (false, false):
            var move = count
            while move > index {
                lows[move] = lows[move - 1]
                highs[move] = highs[move - 1]
                move -= 1
            }
            lows[index] = value
            highs[index] = value
            count += 1
            if count > capacity {
                count -= 1
                floor = max(floor, lows[count - 1])
            }
        }
        return true
    }

    /// Range `index` (0 = highest), `index < count`.
    @inline(__always)
    public func range(_ index: Int) -> (low: UInt64, high: UInt64) { (lows[index], highs[index]) }

    /// Calls `body(low, high)` for each range, highest first.
    public func forEach(_ body: (UInt64, UInt64) -> Void) {
        for index in 0..<count { body(lows[index], highs[index]) }
    }

    /// Forgets every range and resets `floor` to 0, keeping the storage.
    public func removeAll() {
        count = 0
        floor = 0
    }

    private func remove(at index: Int) {
        var move = index
        while move + 1 < count {
            lows[move] = lows[move + 1]
            highs[move] = highs[move + 1]
            move += 1
        }
        count -= 1
    }
}
