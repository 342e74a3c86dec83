// scripts/fuzz.sh soup [SECONDS]   (builds this with -sanitize=fuzzer,address and runs it)
//
// A libFuzzer target over SoupBinTCP input handling: framing, every packet
// type's fields, the server connection's login/heartbeat/logout handling and
// the client's login/data handling, with the input cut into reads of varying
// size. The program is Tests/SoupBinTCPTests/SoupFuzzProgram.swift, shared
// with the regression tests.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runSoupFuzzProgram(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
