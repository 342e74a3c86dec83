import Testing

/// Replays fuzz programs (Tests/UTPTests/UTPFuzzProgram.swift) so the libFuzzer
/// target's invariants also run in `swift test`. Crashing inputs found by
/// `scripts/fuzz.sh utp` go here as inline bytes.
@Suite("µTP fuzz program replays")
struct UTPFuzzRegressionTests {
    static let programs: [[UInt8]] = [
        [],
        [3, 0x12, 0x34, 2, 4, 0, 0, 0, 0, 20, 4, 0, 8, 0, 3, 20, 2, 1, 50],            // SYN, data in order, ACK
        [3, 0, 1, 4, 0, 16, 0, 0, 10, 4, 0, 0, 0, 0, 10, 4, 0, 248, 0, 0, 10, 2],     // reordered data
        [3, 0, 1, 5, 200, 1, 100, 4, 2, 0, 2, 11, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 6, 1, 255],
        [7, 5, 100, 1, 255, 1, 255, 1, 255, 1, 255],                                   // outgoing SYN retries, gives up
        [0, 20, 0x41, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  // raw packet, unknown id
        // Found by libFuzzer: an empty DATA packet between two full ones (the program's
        // own ordering check was wrong, not the connection).
        [0x03, 0x42, 0x01, 0x04, 0x00, 0x00, 0xef, 0x00, 0x00, 0x00, 0x31, 0x6f, 0x6c, 0xf0, 0x07, 0x2d,
         0x00, 0xa3, 0x29, 0x2c, 0x0a, 0x00, 0xef, 0x00, 0x00, 0x00, 0x31, 0x6f, 0x6c, 0x00, 0x00, 0x00,
         0x31, 0x6f, 0x29, 0x2c, 0x0a],
        [3, 9, 9, 3, 9, 9, 3, 1, 1, 3, 2, 2, 3, 3, 3, 3, 4, 4, 3, 5, 5],               // more SYNs than the table holds
    ]

    @Test func replays() {
        for program in Self.programs {
            program.withUnsafeBytes { runUTPFuzzProgram($0) }
        }
    }
}
