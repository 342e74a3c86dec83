// scripts/fuzz.sh [SECONDS]   (builds this with -sanitize=fuzzer,address and runs it)
//
// A libFuzzer target over MoldUDP64 input handling. Each input is read as a
// small program of operations, so the fuzzer reaches deep Session states (early
// packets, overlaps, eviction, lost markers, end of session) instead of only
// the header checks:
//
//   op 0: raw datagram (live)            op 1: raw datagram (answer from server 0)
//   op 2: advance the clock              op 3: synthetic data packet near nextExpected
//   op 4: synthetic heartbeat / end      op 5: synthetic answer + Rerequester.poll
//   op 6: give up on a range             op 7: answer from an unknown address
//
// Invariants checked on every delivery (a violation traps, which libFuzzer
// reports as a crash): sequence numbers are delivered exactly once, in order,
// without holes except reported losses; the reorder buffer never exceeds its
// configured size; nothing reads past a buffer (AddressSanitizer).
// The program itself is Tests/MoldUDP64Tests/FuzzProgram.swift, shared with
// the regression tests; scripts/fuzz.sh compiles both files together.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runMoldFuzzProgram(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
