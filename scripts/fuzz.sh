#!/usr/bin/env bash
# Builds one libFuzzer target with -sanitize=fuzzer,address and runs it.
#
#   scripts/fuzz.sh [TARGET] [SECONDS] [extra libFuzzer flags...]   # default: mold, 600 s
#   scripts/fuzz.sh TARGET 0 .build-fuzz/TARGET-crash-abc123         # replay one input
#
# Targets (each Fuzz/<Name>Fuzz.swift plus the program it shares with its
# regression tests):
#   mold     MoldUDP64 Packet parsing and Session/Rerequester input (Fuzz/MoldFuzz.swift)
#   soup     SoupBinTCP framing, server and client connections (Fuzz/SoupFuzz.swift)
#   capture  the pcap/pcapng readers and frame decoder (Fuzz/CaptureFuzz.swift)
#   utp      µTP (BEP 29) packet parsing and connection input (Fuzz/UTPFuzz.swift)
#   rudp     ReliableUDP's packet and frame decoder and connection input (Fuzz/RudpFuzz.swift)
#
# Build products go to .build-fuzz/ (git-ignored); the corpus to
# .build-fuzz/corpus-TARGET; crashing inputs land as .build-fuzz/TARGET-crash-*.
# Keep each one as an inline-bytes test in the target's regression tests
# (Tests/MoldUDP64Tests/FuzzRegressionTests.swift, Tests/SoupBinTCPTests/
# SoupFuzzRegressionTests.swift, Tests/CaptureTests/CaptureFuzzRegressionTests.swift,
# Tests/UTPTests, Tests/ReliableUDPTests).
# SwiftPM is not used: the module sources are compiled straight with swiftc,
# one module at a time, with a module map for the C shim.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/.build-fuzz
TARGET=mold
case "${1:-}" in mold|soup|capture|utp|rudp) TARGET=$1; shift ;; esac
SECONDS_TO_RUN=${1:-600}
shift || true
CORPUS=$OUT/corpus-$TARGET
mkdir -p "$OUT/include" "$CORPUS"

cat > "$OUT/include/module.modulemap" <<MAP
module CFeedReactor {
    header "$ROOT/Sources/CFeedReactor/include/CFeedReactor.h"
    export *
}
MAP

CDEFS=()
LIBS=()
if [[ -f /usr/include/liburing.h ]]; then CDEFS=(-DFR_HAVE_LIBURING=1); LIBS=(-luring); fi
SWIFT_FLAGS=(-O -g -sanitize=fuzzer,address -parse-as-library -package-name feedreactor -I "$OUT/include" -I "$OUT")
OBJECTS=()

c_shim() {
    for c in Sources/CFeedReactor/*.c; do
        object="$OUT/c-$(basename "$c" .c).o"
        clang -O1 -g -fsanitize=address "${CDEFS[@]}" -I Sources/CFeedReactor/include -c "$c" -o "$object"
        OBJECTS+=("$object")
    done
}

# module NAME: compiles Sources/NAME/*.swift as one module (after the ones it imports).
module() {
    swiftc "${SWIFT_FLAGS[@]}" -module-name "$1" -wmo -emit-module -emit-module-path "$OUT/$1.swiftmodule" \
        -c Sources/"$1"/*.swift -o "$OUT/$1.o"
    OBJECTS+=("$OUT/$1.o")
}

# swift-log from the package's checkout (Reactor imports Logging): `swift build` once first.
logging() {
    local sources=.build/checkouts/swift-log/Sources/Logging
    [[ -d $sources ]] || { echo "fuzz.sh: $sources missing: run swift build once (it fetches swift-log)" >&2; exit 1; }
    swiftc "${SWIFT_FLAGS[@]/-sanitize=fuzzer,address/-sanitize=address}" -module-name Logging -wmo -emit-module \
        -emit-module-path "$OUT/Logging.swiftmodule" -c $(find "$sources" -name "*.swift") -o "$OUT/Logging.o"
    OBJECTS+=("$OUT/Logging.o")
}

MAX_LEN=2048
case "$TARGET" in
    mold)
        c_shim; logging; module Reactor; module Multicast; module MoldUDP64   # MoldUDP64's Client imports Multicast
        SOURCES=(Fuzz/MoldFuzz.swift Tests/MoldUDP64Tests/FuzzProgram.swift) ;;
    soup)
        c_shim; logging; module Reactor; module Multicast; module MoldUDP64; module SoupBinTCP
        SOURCES=(Fuzz/SoupFuzz.swift Tests/SoupBinTCPTests/SoupFuzzProgram.swift) ;;
    rudp)
        c_shim; logging; module Reactor; module ReliableUDP
        SOURCES=(Fuzz/RudpFuzz.swift Tests/ReliableUDPTests/FuzzProgram.swift) ;;
    utp)
        c_shim; logging; module Reactor; module UTP
        SOURCES=(Fuzz/UTPFuzz.swift Tests/UTPTests/UTPFuzzProgram.swift)
        MAX_LEN=4096 ;;
    capture)
        module Capture   # no dependencies
        SOURCES=(Fuzz/CaptureFuzz.swift Tests/CaptureTests/CaptureFuzzProgram.swift)
        MAX_LEN=4096
        # Seeds (written here, not committed): a classic pcap and a pcapng file,
        # each with one Ethernet/IPv4/UDP frame.
        FRAME='\x01\x00\x5e\x01\x01\x01\x02\x00\x00\x00\x00\x02\x08\x00\x45\x00\x00\x20\x00\x01\x20\x00\x40\x11\x00\x00\x0a\x00\x00\x01\xef\x01\x01\x01\x13\x88\xa0\x28\x00\x0c\x00\x00abcd'
        printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x2e\x00\x00\x00\x2e\x00\x00\x00'"$FRAME" >"$CORPUS/seed-pcap"
        printf '\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x1c\x00\x00\x00\x01\x00\x00\x00\x1c\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x09\x00\x01\x00\x09\x00\x00\x00\x1c\x00\x00\x00\x06\x00\x00\x00\x50\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x2e\x00\x00\x00\x2e\x00\x00\x00'"$FRAME"'\x00\x00\x50\x00\x00\x00' >"$CORPUS/seed-pcapng"
        ;;
esac

swiftc "${SWIFT_FLAGS[@]}" -module-name "Fuzz_$TARGET" "${SOURCES[@]}" "${OBJECTS[@]}" "${LIBS[@]}" \
    -o "$OUT/$TARGET-fuzz" 2> >(grep -v "Cannot export local symbol" >&2)

if [[ "$SECONDS_TO_RUN" == 0 ]]; then
    exec "$OUT/$TARGET-fuzz" "$@"
fi
exec "$OUT/$TARGET-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len="$MAX_LEN" -print_final_stats=1 \
    -artifact_prefix="$OUT/$TARGET-" "$@" "$CORPUS"
