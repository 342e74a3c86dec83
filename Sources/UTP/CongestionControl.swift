/// LEDBAT congestion control (RFC 6817) as libutp runs it (utp_internal.cpp,
/// `apply_ccontrol`): the window moves by
/// `gain · (acked / window) · (target - delay) / target` per acknowledgement, so over
/// one RTT (acked ≈ window) it grows at most `gain` bytes when the queueing delay
/// is zero and shrinks when delay exceeds the target. Loss halves it, at most once
/// per `lossDecayInterval`; an RTO collapses it to the minimum. The window only
/// grows while the sender fills it (RFC 6817 §2.4.1, "cwnd-limited").
///
/// Above the target, libutp's rule shrinks by the same at most 3,000 bytes per
/// RTT: at 130 ms of delay that is 900 bytes per RTT, so a 300 KB window takes
/// half a minute to give way to a TCP flow (measured: µTP kept 20 of 50 Mbit/s).
/// With `multiplicativeDecrease` (the default) the decrease is LEDBAT++'s
/// (draft-irtf-iccrg-ledbat-plus-plus-01 §4.3): W·(delay/target − 1) per RTT, at
/// most W/2, or libutp's if that is larger, so µTP yields within a few RTTs.
public struct CongestionControl: Sendable {
    /// The congestion window in bytes: payload the sender may have in flight.
    public private(set) var window: Int
    /// The smallest window (`UTPConfiguration.minimumWindow`), in bytes; an RTO
    /// collapses the window to it.
    public let minimumWindow: Int
    /// The largest window in bytes: half the send slots' worth of full-size
    /// packets, as the connection sets it.
    public let maximumWindow: Int
    let gainPerRTT: Int
    let target: Int64
    let lossDecayInterval: UInt64
    let multiplicativeDecrease: Bool
    var lastDecay: UInt64 = 0
    var hasDecayed = false
    /// Loss events that halved the window (at most one per `lossDecayInterval`).
    public private(set) var losses: UInt64 = 0

    /// A controller starting at `configuration.initialWindow` bytes, kept within
    /// `configuration.minimumWindow...maximumWindow`.
    public init(configuration: UTPConfiguration, maximumWindow: Int) {
        minimumWindow = configuration.minimumWindow
        self.maximumWindow = max(maximumWindow, configuration.minimumWindow)
        window = min(max(configuration.initialWindow, configuration.minimumWindow), self.maximumWindow)
        gainPerRTT = configuration.maximumWindowGainPerRTT
        target = Int64(configuration.targetDelay / 1000)
        lossDecayInterval = configuration.lossDecayInterval
        multiplicativeDecrease = configuration.multiplicativeDecrease
    }

    /// `acked` bytes were newly acknowledged while `inFlight` bytes (before the ACK)
    /// were outstanding; `delay` is the current queueing delay in µs.
    public mutating func acknowledged(bytes acked: Int, inFlightBefore inFlight: Int, delay: UInt32, packetSize: Int) {
        guard acked > 0 else { return }
        let offTarget = target - Int64(delay)
        // cwnd-limited: only grow when the window, not the application, limits sending.
        let saturated = inFlight + packetSize > window
        if offTarget > 0 && !saturated { return }
        let windowFactor = Double(min(acked, window)) / Double(max(window, acked))
        let delayFactor = Double(offTarget) / Double(target)
        var gain = Double(gainPerRTT) * windowFactor * delayFactor
        if offTarget < 0 && multiplicativeDecrease {
            // Per ACK, its share of W·min(delay/target − 1, 1/2): summed over the
            // ACKs of one window (one RTT) that is the LEDBAT++ decrease.
            let excess = min(Double(-offTarget) / Double(target), 0.5)
            gain = min(gain, -Double(min(acked, window)) * excess)
        }
        let next = Double(window) + gain
        window = Int(min(Double(maximumWindow), max(Double(minimumWindow), next)))
    }

    /// A packet was lost (fast retransmit): halve, at most once per decay interval.
    public mutating func lost(now: UInt64) {
        losses &+= 1
        if hasDecayed && now &- lastDecay < lossDecayInterval { return }
        hasDecayed = true
        lastDecay = now
        window = max(minimumWindow, window / 2)
    }

    /// The retransmission timer expired: start again from the minimum.
    public mutating func timedOut(now: UInt64) {
        losses &+= 1
        hasDecayed = true
        lastDecay = now
        window = minimumWindow
    }
}
