#!/usr/bin/env bash
# Runs a command with scripts/malloc_count.so preloaded, so programs that look
# up `mold_malloc_count` (Examples/MoldThroughput) report allocations.
#   scripts/malloc-count.sh .build/release/MoldThroughput --loss-every 100
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/../.build-malloc
mkdir -p "$OUT"
clang -O2 -shared -fPIC "$HERE/malloc_count.c" -o "$OUT/malloc_count.so" -ldl
LD_PRELOAD=$OUT/malloc_count.so exec "$@"
