#!/usr/bin/env bash
# Builds a libFuzzer target with -sanitize=fuzzer,address and runs it:
# mold (Fuzz/MoldFuzz.swift, the default) or capture (Fuzz/CaptureFuzz.swift,
# the pcap/pcapng readers and frame decoder).
#
#   scripts/fuzz.sh [mold|capture] [SECONDS] [extra libFuzzer flags...]    # default 600 s
#   scripts/fuzz.sh 0 crash-abc123                           # replay one input
#   scripts/fuzz.sh capture 0 .build-fuzz/crash-abc123        # replay one capture input
#
# Capture crashes become tests in Tests/CaptureTests/CaptureFuzzRegressionTests.swift.
# Build products go to .build-fuzz/ (git-ignored); the corpus to
# .build-fuzz/corpus; crashing inputs land as .build-fuzz/crash-*. Keep each
# one as an inline-bytes test in Tests/MoldUDP64Tests/FuzzRegressionTests.swift.
# SwiftPM is not used: the Reactor and MoldUDP64 sources are compiled as two
# modules straight with swiftc, with a module map for the C shim.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/.build-fuzz
TARGET=mold
if [[ ${1:-} == mold || ${1:-} == capture ]]; then TARGET=$1; shift; fi
SECONDS_TO_RUN=${1:-600}
shift || true
mkdir -p "$OUT/include" "$OUT/corpus"

cat > "$OUT/include/module.modulemap" <<MAP
module CFeedReactor {
    header "$ROOT/Sources/CFeedReactor/include/CFeedReactor.h"
    export *
}
MAP

CDEFS=()
LIBS=()
if [[ -f /usr/include/liburing.h ]]; then CDEFS=(-DFR_HAVE_LIBURING=1); LIBS=(-luring); fi
C_OBJECTS=()
for c in Sources/CFeedReactor/*.c; do
    object="$OUT/c-$(basename "$c" .c).o"
    clang -O1 -g -fsanitize=address "${CDEFS[@]}" -I Sources/CFeedReactor/include -c "$c" -o "$object"
    C_OBJECTS+=("$object")
done

SWIFT_FLAGS=(-O -g -sanitize=fuzzer,address -parse-as-library -package-name feedreactor -I "$OUT/include" -I "$OUT")
if [[ $TARGET == capture ]]; then
    # The capture module has no dependencies: one module, one binary.
    swiftc "${SWIFT_FLAGS[@]}" -module-name Capture -wmo -emit-module -emit-module-path "$OUT/Capture.swiftmodule" \
        -c Sources/Capture/*.swift -o "$OUT/Capture.o"
    swiftc "${SWIFT_FLAGS[@]}" -module-name CaptureFuzz Fuzz/CaptureFuzz.swift Tests/CaptureTests/CaptureFuzzProgram.swift \
        "$OUT/Capture.o" -o "$OUT/capture-fuzz" 2> >(grep -v "Cannot export local symbol" >&2)
    CORPUS=$OUT/corpus-capture
    mkdir -p "$CORPUS"
    # Seeds (written here, not committed): a classic pcap and a pcapng file,
    # each with one Ethernet/IPv4/UDP frame.
    FRAME='\x01\x00\x5e\x01\x01\x01\x02\x00\x00\x00\x00\x02\x08\x00\x45\x00\x00\x20\x00\x01\x20\x00\x40\x11\x00\x00\x0a\x00\x00\x01\xef\x01\x01\x01\x13\x88\xa0\x28\x00\x0c\x00\x00abcd'
    printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x2e\x00\x00\x00\x2e\x00\x00\x00'"$FRAME" >"$CORPUS/seed-pcap"
    printf '\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x1c\x00\x00\x00\x01\x00\x00\x00\x1c\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x09\x00\x01\x00\x09\x00\x00\x00\x1c\x00\x00\x00\x06\x00\x00\x00\x50\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x2e\x00\x00\x00\x2e\x00\x00\x00'"$FRAME"'\x00\x00\x50\x00\x00\x00' >"$CORPUS/seed-pcapng"
    if [[ "$SECONDS_TO_RUN" == 0 ]]; then exec "$OUT/capture-fuzz" "$@"; fi
    exec "$OUT/capture-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$OUT/capture-" "$@" "$CORPUS"
fi

swiftc "${SWIFT_FLAGS[@]}" -module-name Reactor -wmo -emit-module -emit-module-path "$OUT/Reactor.swiftmodule" \
    -c Sources/Reactor/*.swift -o "$OUT/Reactor.o"
# MoldUDP64's Client imports Multicast: build it too, so the fuzzed module is the real one.
swiftc "${SWIFT_FLAGS[@]}" -module-name Multicast -wmo -emit-module -emit-module-path "$OUT/Multicast.swiftmodule" \
    -c Sources/Multicast/*.swift -o "$OUT/Multicast.o"
swiftc "${SWIFT_FLAGS[@]}" -module-name MoldUDP64 -wmo -emit-module -emit-module-path "$OUT/MoldUDP64.swiftmodule" \
    -c Sources/MoldUDP64/*.swift -o "$OUT/MoldUDP64.o"
swiftc "${SWIFT_FLAGS[@]}" -module-name MoldFuzz Fuzz/MoldFuzz.swift Tests/MoldUDP64Tests/FuzzProgram.swift \
    "$OUT/Reactor.o" "$OUT/Multicast.o" "$OUT/MoldUDP64.o" "${C_OBJECTS[@]}" "${LIBS[@]}" \
    -o "$OUT/mold-fuzz" 2> >(grep -v "Cannot export local symbol" >&2)

if [[ "$SECONDS_TO_RUN" == 0 ]]; then
    exec "$OUT/mold-fuzz" "$@"
fi
exec "$OUT/mold-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT/" "$@" "$OUT/corpus"
