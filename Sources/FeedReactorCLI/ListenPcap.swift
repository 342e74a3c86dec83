import ArgumentParser
import Capture
import CFeedReactor
import MoldUDP64
import Reactor

/// `feedreactor listen --pcap FILE [--port P]`: the MoldUDP64 client over a
/// capture, without a network. The same `Session` sequences the capture's
/// datagrams (duplicates, reordering and A/B copies handled as live), the same
/// `ListenConsumer` prints and counts, and the same summary and exit codes
/// follow. Time is the capture's: each datagram's timestamp is `now`, so the
/// reorder window spans capture time. There is nobody to ask for a missing
/// range, so a range is given up (reported lost, in order) as soon as the
/// reorder window declares it a gap, and at the end of the capture every
/// range still missing is. `--timeout S` stops after S seconds of capture time.
extension Listen {
    func runPcap(_ path: String) throws {
        let (file, datagrams) = try openCapture(path)
        defer { withExtendedLifetime(file) {} }
        let groupA = try group.map(capturedAddress(parsing:))
        let groupB = try self.groupB.map(capturedAddress(parsing:))
        let portA = port
        let portB = self.portB ?? (groupB != nil ? port : nil)

        var configuration = Session.Configuration()
        configuration.pinnedSession = session.flatMap(SessionID.init)
        configuration.startSequence = fromSeq
        configuration.reorderWindow = UInt64(reorderMilliseconds * 1e6)
        // As `Client` does for A/B lines: a capture may hold both lines, and a
        // copy on line B may trail line A's by a receive batch (2 x 64 packets).
        configuration.reorderWindowPackets = max(configuration.reorderWindowPackets, 128)
        let counters = MoldCounters()
        let session = Session(configuration: configuration, counters: counters)
        // The consumer stops a reactor at its target; this one never runs.
        let reactor = try Reactor(backend: .epoll)
        let consumer = ListenConsumer(print: print, target: count, untilEndOfSession: untilEndOfSession, reactor: reactor)
        session.consumer = consumer
        var lines = [PcapLineTally(), PcapLineTally()]
        var lineDestinations: [(CapturedAddress, UInt16)] = []
        var other: UInt64 = 0
        var first: UInt64?
        var last: UInt64 = 0
        var timedOut = false
        var readError: String?
        let started = fr_monotonic_ns()
        note("listen: reading \(path) (\(datagrams.reader.format)) filter: \(filterDescription(groupA, portA, groupB, portB))")

        reading: while true {
            let datagram: CapturedDatagram
            do {
                guard let next = try datagrams.next() else { break }
                datagram = next
            } catch {
                readError = "\(error)"
                break
            }
            let matchesA = (groupA == nil || datagram.destination == groupA) && (portA == nil || datagram.destinationPort == portA)
            let matchesB = groupB != nil || portB != nil
                ? (groupB == nil || datagram.destination == groupB) && (portB == nil || datagram.destinationPort == portB)
                : false
            guard matchesA || matchesB else { other &+= 1; continue }
            // Lines: B when it matches only B; without B options, the second
            // destination seen (A/B copies recorded in one capture) is line b.
            var line = matchesA ? 0 : 1
            if groupB == nil && portB == nil {
                let destination = (datagram.destination, datagram.destinationPort)
                if let index = lineDestinations.firstIndex(where: { $0 == destination }) {
                    line = min(index, 1)
                } else {
                    lineDestinations.append(destination)
                    line = min(lineDestinations.count - 1, 1)
                }
            }
            let now = datagram.timestamp
            if first == nil { first = now }
            if let timeout, let first, now > first, Double(now - first) / 1e9 > timeout { timedOut = true; break }
            last = now
            lines[line].datagrams &+= 1
            let duplicatesBefore = counters.duplicates
            do {
                try session.receive(datagram.payload, now: now)
            } catch {
                lines[line].malformed &+= 1
            }
            lines[line].duplicates &+= counters.duplicates &- duplicatesBefore
            giveUpDeclaredGaps(session)
            if consumer.reachedTarget || (untilEndOfSession && session.isFinished) { break reading }
        }
        if !consumer.reachedTarget && !timedOut {
            // The end of the capture: nothing more will come for any range still open.
            session.advance(now: .max)
            giveUpDeclaredGaps(session)
        }
        consumer.flush()
        let elapsed = Double(fr_monotonic_ns() - started) / 1e9

        var missing = consumer.lostRanges
        var cursor = session.nextExpected
        while let range = session.firstMissing(atOrAfter: cursor, below: session.highestKnown) {
            missing.append(range)
            cursor = range.upperBound
        }
        let reached = consumer.reachedTarget || (untilEndOfSession && session.isFinished)
            || (count == nil && !untilEndOfSession && !timedOut)
        note("listen: pcap \(datagrams.counters.summary) other_destinations=\(other) "
             + "capture_seconds=\(fixed(Double(last &- (first ?? last)) / 1e9)) read_seconds=\(fixed(elapsed)) "
             + "msgs_per_s=\(elapsed > 0 ? UInt64(Double(consumer.delivered) / elapsed) : 0)")
        if let readError { note("listen: \(path): \(readError)") }
        var summary = counters.summary
        for index in 0..<(lineDestinations.count > 1 || groupB != nil || portB != nil ? 2 : 1) {
            let name = index == 0 ? "a" : "b"
            summary += " line_\(name)_datagrams=\(lines[index].datagrams) line_\(name)_duplicates=\(lines[index].duplicates)"
        }
        summary += " next=\(session.nextExpected) timed_out=\(timedOut) backend=pcap"
        try finishListen(summary: summary, missing: missing, reached: reached,
                         shortfall: "the capture ended before the \(untilEndOfSession ? "end of session" : "requested count")")
    }

    /// Offline there is no re-request: a declared gap is lost at once.
    func giveUpDeclaredGaps(_ session: Session) {
        while let gap = session.firstGap(atOrAfter: session.nextExpected) {
            session.counters.gaps &+= 1
            guard session.markUnrecoverable(gap) else { break }
        }
    }

    func filterDescription(_ groupA: CapturedAddress?, _ portA: UInt16?, _ groupB: CapturedAddress?, _ portB: UInt16?) -> String {
        func one(_ group: CapturedAddress?, _ port: UInt16?) -> String {
            "\(group.map { "\($0)" } ?? "*"):\(port.map { "\($0)" } ?? "*")"
        }
        return one(groupA, portA) + (groupB != nil || portB != nil ? " + " + one(groupB, portB) : "")
    }
}

/// What one line (destination) of the capture contributed, as `Client.LineCounters` live.
struct PcapLineTally {
    var datagrams: UInt64 = 0
    var duplicates: UInt64 = 0
    var malformed: UInt64 = 0
}
