import Reactor

/// One-way delay bookkeeping of LEDBAT (RFC 6817 §2.4.2) as libutp keeps it: the
/// base delay is the minimum over per-minute minima of the last `minutes` minutes,
/// and the current delay is the minimum of the last 3 samples (libutp
/// CUR_DELAY_SIZE) minus the base. Samples are µTP timestamp differences (µs):
/// they include an unknown clock offset and wrap at 2^32, so every comparison is
/// wrapping and only differences are meaningful.
public struct DelayHistory: Sendable {
    static let currentSamples = 3
    static let minute: UInt64 = 60_000_000_000

    var minima: [UInt32]
    var minimaCount = 0
    var minuteStart: UInt64 = 0
    var currentMinimum: UInt32 = 0
    var haveCurrentMinimum = false
    var recent: (UInt32, UInt32, UInt32) = (0, 0, 0)
    var recentCount = 0
    var recentIndex = 0
    /// The base delay: the smallest timestamp difference (µs, with the clocks'
    /// unknown offset) over the kept minutes.
    public private(set) var base: UInt32 = 0
    /// True once a sample was taken; before that `base` and the current delay mean nothing.
    public private(set) var hasSamples = false

    /// A history keeping the per-minute minima of the last `minutes` minutes (at least 2).
    public init(minutes: Int) {
        minima = [UInt32](repeating: 0, count: max(2, minutes))
    }

    /// Adds one sample (µs, wrapping) taken at `now`.
    public mutating func add(_ sample: UInt32, now: UInt64) {
        if !hasSamples {
            hasSamples = true
            base = sample
            minuteStart = now
        }
        if now &- minuteStart >= DelayHistory.minute {
            // Close this minute: its minimum joins the history (oldest falls out).
            if haveCurrentMinimum {
                if minimaCount == minima.count {
                    for index in 1..<minima.count { minima[index - 1] = minima[index] }
                    minimaCount -= 1
                }
                minima[minimaCount] = currentMinimum
                minimaCount += 1
            }
            haveCurrentMinimum = false
            minuteStart = now
            recomputeBase(including: sample)
        }
        if !haveCurrentMinimum || WrappingSequence.isBefore(sample, currentMinimum) {
            currentMinimum = sample
            haveCurrentMinimum = true
        }
        if WrappingSequence.isBefore(sample, base) { base = sample }
        let delay = WrappingSequence.isBefore(sample, base) ? 0 : sample &- base
        switch recentIndex {
        case 0: recent.0 = delay
        case 1: recent.1 = delay
        default: recent.2 = delay
        }
        recentIndex = (recentIndex + 1) % DelayHistory.currentSamples
        recentCount = min(recentCount + 1, DelayHistory.currentSamples)
    }

    /// Queueing delay estimate (µs): the smallest of the last 3 samples above base.
    public var currentDelay: UInt32 {
        guard recentCount > 0 else { return 0 }
        var value = recent.0
        if recentCount > 1 { value = min(value, recent.1) }
        if recentCount > 2 { value = min(value, recent.2) }
        return value
    }

    mutating func recomputeBase(including sample: UInt32) {
        var value = haveCurrentMinimum && WrappingSequence.isBefore(currentMinimum, sample) ? currentMinimum : sample
        for index in 0..<minimaCount where WrappingSequence.isBefore(minima[index], value) { value = minima[index] }
        base = value
    }
}
