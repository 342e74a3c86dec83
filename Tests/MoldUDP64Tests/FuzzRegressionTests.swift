import Testing
import TestSupport
@testable import MoldUDP64

/// Replays fuzz programs (Tests/MoldUDP64Tests/FuzzProgram.swift) in the
/// normal test run. A broken invariant traps the test process, as it crashed
/// the fuzzer.
///
/// Crashing inputs found by scripts/fuzz.sh go here as inline bytes; none so far
/// (see the report of each long run in the commit history). The hand-written
/// programs below pin down paths the fuzzer found hard to reach.
@Suite struct FuzzRegressionTests {
    @discardableResult
    func run(_ bytes: [UInt8]) -> MoldCounters {
        bytes.withUnsafeBytes { runMoldFuzzProgram($0) }
    }

    @Test func evictionOversizeLossAndEndOfSession() {
        let counters = run([
            3, 0, 5, 10,            // messages 1...6 in order
            3, 20, 11, 200,         // 12 early messages at 27, spread over 64-byte slots
            3, 40, 11, 3,           // 12 more further ahead
            3, 60, 11, 77,          // and more: the buffer (8 slots) fills, furthest dropped
            3, 10, 11, 90,          // nearer run evicts the furthest
            2, 255,                 // 12.75 ms later: gaps declared and requested
            5, 0, 3, 9,             // partial answer at the next expected message
            2, 30,
            6, 0, 30,               // give up on the next 30
            12, 5,                  // end of session 5 ahead
            7, 1,                   // answer from an unknown address: ignored
            0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
            1, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
            2, 255, 2, 255, 2, 255, 2, 255,
        ])
        #expect(counters.bufferDrops > 0)
        #expect(counters.bufferHighWater == 8)
        #expect(counters.requests > 0 && counters.recovered > 0)
        #expect(counters.unrecoverable > 0)
        #expect(counters.unknownSource == 1)
        #expect(counters.malformed == 2)
    }

    @Test func answersBeforeAndAfterTheSessionLocks() {
        run([5, 0, 2, 1, 3, 0, 0, 0, 5, 255, 11, 0, 5, 1, 3, 0, 2, 255])
    }

    /// Seeded random programs: a small deterministic fuzz in every test run.
    @Test func seededRandomPrograms() {
        var random = SeededGenerator(seed: 0x5EED)
        for _ in 0..<1_500 {
            let length = Int.random(in: 1...300, using: &random)
            var program = [UInt8](repeating: 0, count: length)
            for index in program.indices {
                // Bias towards the structured operations with small arguments.
                program[index] = random.chance(0.5) ? UInt8.random(in: 0...15, using: &random) : UInt8.random(in: 0...255, using: &random)
            }
            run(program)
        }
    }
}
