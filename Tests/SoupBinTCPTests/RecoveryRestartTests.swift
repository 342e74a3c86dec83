import MoldUDP64
import Reactor
import SoupBinTCP
import Testing
import TestSupport

@Suite(.serialized) struct SoupRecoveryRestartTests {
    /// TCP is the only path. A recovery runs from 2,001 when the gap below it
    /// (1..<2,001, revealed by the first live packet) is declared: the TCP
    /// stream never goes back, so the recovery restarts with a login at 1.
    /// Nothing is reported lost; everything is delivered once, in order.
    @Test func gapBelowARunningRecoveryRestartsItAtTheLowerSequence() throws {
        let store = RetransmissionStore(messageCapacity: 1 << 13)
        // The reorder window is closed by packets only (3), never by time, so
        // the lower gap is declared exactly when the three live packets below arrive.
        let rig = try RecoveryRig(session: "RESTART001", group: "239.255.79.4", store: store, udp: false,
                                  reorderWindow: 60_000_000_000, checker: OrderChecker(numbered: ()))
        defer { rig.close() }
        for first in stride(from: UInt64(1), to: 2_991, by: 10) {
            try rig.publish(first, count: 10, payload: numbered, lost: true)
        }
        try rig.publish(2_991, count: 10, payload: numbered)
        try rig.finish(cycles: 2_000) { rig.client.session.current != nil }
        #expect(rig.client.session.current != nil)
        #expect(rig.recovery.handedOff == nil, "1..<2,991 is revealed, not yet declared")
        // A range above the lowest missing one is taken first (as the
        // rerequester's sweep or give-up would hand it over).
        #expect(rig.recovery.takeOver(2_001..<2_991, udpAvailable: false, now: rig.reactor.now))
        #expect(rig.recovery.handedOff == 2_001..<2_991)
        for first in stride(from: UInt64(3_001), to: 3_031, by: 10) {
            try rig.publish(first, count: 10, payload: numbered)
        }
        try rig.endOfSession()
        try rig.finish { rig.checker.ended }
        #expect(rig.checker.ended)
        #expect(rig.checker.lost.isEmpty, "lost \(rig.checker.lost)")
        #expect(rig.checker.delivered == 3_030 && rig.checker.mismatches == 0)
        let tcp = rig.recovery.counters
        #expect(tcp.started == 1 && tcp.restarts == 1 && tcp.failed == 0, "\(tcp)")
        #expect(tcp.messagesDelivered >= 2_990)
        #expect(rig.client.counters.delivered == 3_030)
    }
}
