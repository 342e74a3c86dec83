#!/usr/bin/env bash
# Builds the MoldUDP64 libFuzzer target (Fuzz/MoldFuzz.swift) with
# -sanitize=fuzzer,address and runs it.
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]    # default 600 s
#   scripts/fuzz.sh 0 crash-abc123                           # replay one input
#   FUZZ_TARGET=soup scripts/fuzz.sh 120                     # another target
#
# Targets (FUZZ_TARGET): mold (default; Fuzz/MoldFuzz.swift), soup
# (Fuzz/SoupFuzz.swift: SoupBinTCP framing, server and client connections).
#
# Build products go to .build-fuzz/ (git-ignored); the corpus to
# .build-fuzz/corpus-TARGET; crashing inputs land as .build-fuzz/TARGET-crash-*. Keep each
# one as an inline-bytes test in Tests/MoldUDP64Tests/FuzzRegressionTests.swift.
# SwiftPM is not used: the Reactor and MoldUDP64 sources are compiled as two
# modules straight with swiftc, with a module map for the C shim.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/.build-fuzz
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
swiftc "${SWIFT_FLAGS[@]}" -module-name Reactor -wmo -emit-module -emit-module-path "$OUT/Reactor.swiftmodule" \
    -c Sources/Reactor/*.swift -o "$OUT/Reactor.o"
# MoldUDP64's Client imports Multicast: build it too, so the fuzzed module is the real one.
swiftc "${SWIFT_FLAGS[@]}" -module-name Multicast -wmo -emit-module -emit-module-path "$OUT/Multicast.swiftmodule" \
    -c Sources/Multicast/*.swift -o "$OUT/Multicast.o"
swiftc "${SWIFT_FLAGS[@]}" -module-name MoldUDP64 -wmo -emit-module -emit-module-path "$OUT/MoldUDP64.swiftmodule" \
    -c Sources/MoldUDP64/*.swift -o "$OUT/MoldUDP64.o"
TARGET=${FUZZ_TARGET:-mold}
MODULE_OBJECTS=("$OUT/Reactor.o" "$OUT/Multicast.o" "$OUT/MoldUDP64.o")
case "$TARGET" in
    mold) TARGET_SOURCES=(Fuzz/MoldFuzz.swift Tests/MoldUDP64Tests/FuzzProgram.swift) ;;
    soup)
        swiftc "${SWIFT_FLAGS[@]}" -module-name SoupBinTCP -wmo -emit-module -emit-module-path "$OUT/SoupBinTCP.swiftmodule" \
            -c Sources/SoupBinTCP/*.swift -o "$OUT/SoupBinTCP.o"
        MODULE_OBJECTS+=("$OUT/SoupBinTCP.o")
        TARGET_SOURCES=(Fuzz/SoupFuzz.swift Tests/SoupBinTCPTests/SoupFuzzProgram.swift) ;;
    *) echo "unknown FUZZ_TARGET '$TARGET' (mold, soup)" >&2; exit 2 ;;
esac
mkdir -p "$OUT/corpus-$TARGET"
swiftc "${SWIFT_FLAGS[@]}" -module-name "Fuzz_$TARGET" "${TARGET_SOURCES[@]}" \
    "${MODULE_OBJECTS[@]}" "${C_OBJECTS[@]}" "${LIBS[@]}" \
    -o "$OUT/$TARGET-fuzz" 2> >(grep -v "Cannot export local symbol" >&2)

if [[ "$SECONDS_TO_RUN" == 0 ]]; then
    exec "$OUT/$TARGET-fuzz" "$@"
fi
exec "$OUT/$TARGET-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT/$TARGET-" "$@" "$OUT/corpus-$TARGET"
