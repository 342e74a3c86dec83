import Testing
import SoupBinTCP

/// Replays inputs through the fuzz program: hand-written edge cases and seeded
/// random ones (crashing inputs found by `scripts/fuzz.sh soup` go here too).
@Suite struct SoupFuzzRegressionTests {
    @Test func handWrittenInputs() {
        let inputs: [[UInt8]] = [
            [],
            [0],
            [1, 0x00, 0x00],
            [3, 0xFF, 0xFF, 0x53, 1, 2, 3],
            [0, 0x00, 0x2F, 0x4C] + [UInt8](repeating: 0x20, count: 46),
            [2, 0x00, 0x1F, 0x41] + Array("FUZZ      ".utf8) + Array("                   3".utf8)
                + [0x00, 0x02, 0x53, 9, 0x00, 0x01, 0x5A],
            [5] + [UInt8](repeating: 0x48, count: 300),
        ]
        for input in inputs { input.withUnsafeBytes { runSoupFuzzProgram($0) } }
    }

    @Test func seededRandomInputs() {
        var state: UInt64 = 0x5EED
        for _ in 0..<2_000 {
            var input: [UInt8] = []
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let length = Int(state >> 56)
            for _ in 0..<length {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                // Bias towards valid type bytes and small lengths so deep paths are reached.
                let pick = UInt8(truncatingIfNeeded: state >> 33)
                input.append(pick % 4 == 0 ? Array("+AJSHZLURO".utf8)[Int(pick >> 2) % 10] : pick % 3 == 0 ? 0 : pick)
            }
            input.withUnsafeBytes { runSoupFuzzProgram($0) }
        }
    }
}
