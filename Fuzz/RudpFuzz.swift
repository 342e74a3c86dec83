// scripts/fuzz.sh rudp [SECONDS]   (builds this with -sanitize=fuzzer,address and runs it)
//
// A libFuzzer target over ReliableUDP input handling: the decoder (header,
// frames, ACK ranges) and the Connection state it drives. The program is
// Tests/ReliableUDPTests/FuzzProgram.swift, shared with the regression tests.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runRudpFuzzProgram(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
