// scripts/fuzz.sh capture [SECONDS]   (builds this with -sanitize=fuzzer,address and runs it)
//
// A libFuzzer target over the capture readers: pcap / pcapng containers, every
// link type, VLAN tags, IPv4 / IPv6 with extension headers, UDP, and IPv4
// fragment reassembly. The program is Tests/CaptureTests/CaptureFuzzProgram.swift,
// shared with the regression tests; scripts/fuzz.sh compiles both files together.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runCaptureFuzzProgram(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
