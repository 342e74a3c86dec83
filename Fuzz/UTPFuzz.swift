// scripts/fuzz.sh utp [SECONDS]   (builds this with -sanitize=fuzzer,address and runs it)
//
// A libFuzzer target over µTP input handling: the packet parser and a whole
// endpoint with a connection, driven by the program in
// Tests/UTPTests/UTPFuzzProgram.swift (shared with the regression tests).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runUTPFuzzProgram(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
