import Testing
import TestSupport
@testable import MoldUDP64

/// Records deliveries for Session tests.
final class Recorder: MessageConsumer {
    var delivered: [(UInt64, [UInt8])] = []
    var lost: [Range<UInt64>] = []
    var foreign: [SessionID] = []
    var ended: UInt64?
    func deliver(sequence: UInt64, message: UnsafeRawBufferPointer) { delivered.append((sequence, Array(message))) }
    func lost(firstSequence: UInt64, count: UInt64) { lost.append(firstSequence..<(firstSequence + count)) }
    func foreignSession(_ session: SessionID, current: SessionID) { foreign.append(session) }
    func endOfSession(nextSequence: UInt64) { ended = nextSequence }
    var sequences: [UInt64] { delivered.map(\.0) }
}

@Suite struct SessionTests {
    let feed = MoldFeed(session: "UNIT", messages: MoldFeed.messages(count: 200, seed: 5))
    let recorder = Recorder()

    func session(_ configuration: Session.Configuration = .init()) -> Session {
        let session = Session(configuration: configuration)
        session.consumer = recorder
        return session
    }

    func send(_ session: Session, _ first: UInt64, _ count: Int, at now: UInt64 = 0, retransmission: Bool = false) {
        feed.packet(first: first, count: count).withUnsafeBytes {
            _ = try? session.receive($0, now: now, retransmission: retransmission)
        }
    }

    func send(_ session: Session, bytes: [UInt8], at now: UInt64 = 0) {
        bytes.withUnsafeBytes { _ = try? session.receive($0, now: now) }
    }

    @Test func deliversInOrderWithBytes() {
        let s = session()
        send(s, 1, 5)
        send(s, 6, 5)
        #expect(recorder.sequences == Array(1...10))
        #expect(recorder.delivered.allSatisfy { feed.messages[Int($0.0) - 1] == $0.1 })
        #expect(s.counters.delivered == 10 && s.counters.duplicates == 0)
        #expect(s.current == SessionID("UNIT"))
    }

    @Test func buffersEarlyPacketsAndDeliversOnceTheHoleFills() {
        let s = session()
        send(s, 1, 5)
        send(s, 11, 5)
        send(s, 16, 5)
        #expect(recorder.sequences == Array(1...5))
        #expect(s.bufferedPackets == 2)
        #expect(s.firstMissing(atOrAfter: 0, below: .max) == 6..<11)
        send(s, 6, 5, retransmission: true)
        #expect(recorder.sequences == Array(1...20))
        #expect(s.bufferedPackets == 0)
        #expect(s.counters.recovered == 5)
    }

    @Test func overlappingPacketsContributeOnlyNewMessages() {
        let s = session()
        send(s, 1, 5)
        send(s, 3, 6)           // 3...8: 6,7,8 new
        #expect(recorder.sequences == Array(1...8))
        #expect(s.counters.duplicates == 3)
        send(s, 12, 3)          // buffered 12...14
        send(s, 10, 8)          // early 10...17: 10,11 and 15,16,17 new, 12...14 duplicate
        #expect(s.counters.duplicates == 6)
        #expect(s.bufferedPackets == 3)
        send(s, 9, 1)
        #expect(recorder.sequences == Array(1...17))
        #expect(s.counters.duplicates == 6)
        send(s, 1, 20)          // 18...20 new
        #expect(recorder.sequences == Array(1...20))
        #expect(s.counters.duplicates == 6 + 17)
    }

    @Test func inOrderPacketOverBufferedRunCountsTheRunAsDuplicates() {
        let s = session()
        send(s, 5, 2)
        send(s, 1, 10)
        #expect(recorder.sequences == Array(1...10))
        #expect(s.bufferedPackets == 0 && s.counters.duplicates == 2)
    }

    @Test func reorderWindowByPacketCount() {
        let s = session(.init(reorderWindow: 1_000_000_000, reorderWindowPackets: 3))
        send(s, 1, 1)
        send(s, 3, 1)            // reveals 2 missing
        #expect(s.firstGap(atOrAfter: 0) == nil)
        send(s, 4, 1)
        send(s, 5, 1)
        #expect(s.firstGap(atOrAfter: 0) == nil)
        send(s, 6, 1)            // third packet after the one that revealed it
        #expect(s.firstGap(atOrAfter: 0) == 2..<3)
        #expect(s.counters.gaps == 1)
    }

    @Test func reorderWindowByTime() {
        let s = session(.init(reorderWindow: 2_000_000, reorderWindowPackets: 100))
        send(s, 1, 1, at: 0)
        send(s, 3, 1, at: 100)
        s.advance(now: 1_999_999)
        #expect(s.firstGap(atOrAfter: 0) == nil)
        #expect(s.nextWindowDeadline == 2_000_000)  // the first packet's (nothing missing below it)
        s.advance(now: 2_000_100)
        #expect(s.firstGap(atOrAfter: 0) == 2..<3)
        // Filled late (within or after the window): delivered once, gap closed.
        send(s, 2, 1, at: 2_000_200)
        #expect(recorder.sequences == [1, 2, 3])
        #expect(s.firstGap(atOrAfter: 0) == nil)
    }

    @Test func heartbeatRevealsTailAndEndOfSessionFinishes() {
        let s = session(.init(reorderWindowPackets: 0))
        send(s, 1, 10)
        send(s, bytes: feed.heartbeat(next: 14))
        #expect(s.firstGap(atOrAfter: 0) == 11..<14)
        send(s, bytes: feed.endOfSession(next: 14))
        #expect(!s.isFinished && recorder.ended == nil)
        send(s, 11, 3, retransmission: true)
        #expect(s.isFinished && recorder.ended == 14)
        #expect(recorder.sequences == Array(1...13))
    }

    @Test func foreignSessionIsReportedOnceAndNotMerged() {
        let s = session()
        send(s, 1, 3)
        let other = MoldFeed(session: "OTHER", messages: feed.messages)
        send(s, bytes: other.packet(first: 4, count: 3))
        send(s, bytes: other.packet(first: 7, count: 3))
        #expect(recorder.sequences == [1, 2, 3])
        #expect(recorder.foreign == [SessionID("OTHER")!])
        #expect(s.counters.foreignSession == 2)
        s.switchSession(to: SessionID("OTHER")!)
        send(s, bytes: other.packet(first: 1, count: 2))
        #expect(recorder.sequences == [1, 2, 3, 1, 2])
    }

    @Test func pinnedSessionRejectsOthersFromTheStart() {
        let s = session(.init(pinnedSession: SessionID("PINNED")))
        send(s, 1, 3)
        #expect(recorder.delivered.isEmpty && s.counters.foreignSession == 1)
        #expect(s.current == SessionID("PINNED"))
    }

    @Test func retransmissionCannotLockTheSession() {
        let s = session()
        var disposition: Session.Disposition?
        feed.packet(first: 1, count: 2).withUnsafeBytes { disposition = try? s.receive($0, now: 0, retransmission: true) }
        #expect(disposition == .notLocked && s.current == nil)
    }

    @Test func startSequenceSkipsEarlierMessagesWithoutCountingThem() {
        let s = session(.init(startSequence: 50))
        send(s, 41, 5)
        send(s, 46, 10)
        #expect(recorder.sequences == Array(50...55))
        #expect(s.counters.duplicates == 0)
        #expect(s.firstMissing(atOrAfter: 0, below: s.highestKnown) == nil)
    }

    @Test func fullBufferDropsFurthestAheadFirst() {
        let s = session(.init(maxBufferedPackets: 2))
        send(s, 1, 1)
        send(s, 30, 2)
        send(s, 40, 2)
        send(s, 20, 2)          // nearer than 40: evicts 40...41
        #expect(s.bufferedPackets == 2)
        #expect(s.counters.bufferDrops == 2)
        send(s, 50, 2)          // furthest ahead of all: not kept
        #expect(s.counters.bufferDrops == 4)
        #expect(s.firstMissing(atOrAfter: 0, below: 52) == 2..<20)
        #expect(s.firstMissing(atOrAfter: 22, below: 52) == 22..<30)
        #expect(s.firstMissing(atOrAfter: 32, below: 52) == 32..<52)
        // The next expected message never needs buffer space.
        send(s, 2, 18)
        #expect(recorder.sequences == Array(1...21))
        #expect(s.bufferedPackets == 1)
        #expect(s.counters.bufferHighWater == 2)
    }

    @Test func longPacketSpreadsOverSlotsAndOversizedMessageIsSkipped() {
        let messages: [[UInt8]] = (0..<10).map { [UInt8](repeating: UInt8($0), count: $0 == 7 ? 100 : 20) }
        let big = MoldFeed(session: "UNIT", messages: messages)
        let recorder = Recorder()
        let s = Session(configuration: .init(maxBufferedPackets: 8, slotBytes: 50))
        s.consumer = recorder
        big.packet(first: 2, count: 9).withUnsafeBytes { _ = try? s.receive($0, now: 0) }
        // 22 bytes per framed message: two per 50-byte slot; message 8 (102 bytes) fits none.
        #expect(s.counters.bufferDrops == 1)
        #expect(s.firstMissing(atOrAfter: 0, below: 11) == 1..<2)
        #expect(s.firstMissing(atOrAfter: 2, below: 11) == 8..<9)
        big.packet(first: 1, count: 1).withUnsafeBytes { _ = try? s.receive($0, now: 0) }
        #expect(recorder.sequences == Array(1...7))
        big.packet(first: 8, count: 1).withUnsafeBytes { _ = try? s.receive($0, now: 0) }
        #expect(recorder.sequences == Array(1...10))
        #expect(recorder.delivered.allSatisfy { messages[Int($0.0) - 1] == $0.1 })
    }

    @Test func unrecoverableRangeIsReportedInOrder() {
        let s = session()
        send(s, 1, 2)
        send(s, 10, 2)
        s.markUnrecoverable(5..<8)
        #expect(recorder.lost.isEmpty)
        #expect(s.firstMissing(atOrAfter: 0, below: 12) == 3..<5)
        s.markUnrecoverable(3..<5)
        #expect(recorder.lost == [3..<5, 5..<8])
        #expect(s.firstMissing(atOrAfter: 0, below: 12) == 8..<10)
        send(s, 8, 2)
        #expect(recorder.sequences == [1, 2, 8, 9, 10, 11])
        #expect(s.counters.unrecoverable == 5)
    }

    @Test func malformedIsCountedAndThrown() {
        let s = session()
        var bytes = feed.packet(first: 1, count: 2)
        bytes.removeLast()
        #expect(throws: PacketError.self) { try bytes.withUnsafeBytes { try s.receive($0, now: 0) } }
        #expect(s.counters.malformed == 1 && recorder.delivered.isEmpty)
    }
}
