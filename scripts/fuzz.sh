#!/usr/bin/env bash
# Builds a libFuzzer target with -sanitize=fuzzer,address and runs it:
# `mold` (Fuzz/MoldFuzz.swift, the default) or `rudp` (Fuzz/RudpFuzz.swift,
# ReliableUDP's decoder and Connection).
#
#   scripts/fuzz.sh [mold|rudp] [SECONDS] [extra libFuzzer flags...]    # default 600 s
#   scripts/fuzz.sh 0 crash-abc123                           # replay one input
#
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
if [[ "${1:-}" == mold || "${1:-}" == rudp ]]; then TARGET=$1; shift; fi
SECONDS_TO_RUN=${1:-600}
shift || true
mkdir -p "$OUT/include" "$OUT/corpus" "$OUT/corpus-rudp"

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
swiftc "${SWIFT_FLAGS[@]}" -module-name Reactor -wmo -emit-module -emit-module-path "$OUT/Reactor.swiftmodule" \
    -c Sources/Reactor/*.swift -o "$OUT/Reactor.o"
# MoldUDP64's Client imports Multicast: build it too, so the fuzzed module is the real one.
swiftc "${SWIFT_FLAGS[@]}" -module-name Multicast -wmo -emit-module -emit-module-path "$OUT/Multicast.swiftmodule" \
    -c Sources/Multicast/*.swift -o "$OUT/Multicast.o"
swiftc "${SWIFT_FLAGS[@]}" -module-name MoldUDP64 -wmo -emit-module -emit-module-path "$OUT/MoldUDP64.swiftmodule" \
    -c Sources/MoldUDP64/*.swift -o "$OUT/MoldUDP64.o"
if [[ "$TARGET" == rudp ]]; then
    swiftc "${SWIFT_FLAGS[@]}" -module-name ReliableUDP -wmo -emit-module -emit-module-path "$OUT/ReliableUDP.swiftmodule" \
        -c Sources/ReliableUDP/*.swift -o "$OUT/ReliableUDP.o"
    swiftc "${SWIFT_FLAGS[@]}" -module-name RudpFuzz Fuzz/RudpFuzz.swift Tests/ReliableUDPTests/FuzzProgram.swift \
        "$OUT/Reactor.o" "$OUT/ReliableUDP.o" "${C_OBJECTS[@]}" "${LIBS[@]}" \
        -o "$OUT/rudp-fuzz" 2> >(grep -v "Cannot export local symbol" >&2)
    BINARY=$OUT/rudp-fuzz
    CORPUS=$OUT/corpus-rudp
else
    swiftc "${SWIFT_FLAGS[@]}" -module-name MoldFuzz Fuzz/MoldFuzz.swift Tests/MoldUDP64Tests/FuzzProgram.swift \
        "$OUT/Reactor.o" "$OUT/Multicast.o" "$OUT/MoldUDP64.o" "${C_OBJECTS[@]}" "${LIBS[@]}" \
        -o "$OUT/mold-fuzz" 2> >(grep -v "Cannot export local symbol" >&2)
    BINARY=$OUT/mold-fuzz
    CORPUS=$OUT/corpus
fi

if [[ "$SECONDS_TO_RUN" == 0 ]]; then
    exec "$BINARY" "$@"
fi
exec "$BINARY" -max_total_time="$SECONDS_TO_RUN" -max_len=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT/" "$@" "$CORPUS"
