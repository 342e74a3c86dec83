#!/usr/bin/env bash
# The allocation gates (Thresholds/), checked without `swift package benchmark`.
#
# `swift package --disable-sandbox benchmark thresholds check` does the same, but
# swift-package's plugin host has crashed under it on the CI machine (in
# libdispatch, SIGSEGV then SIGILL, both tries of one run, before any result). This script does
# what the plugin does, with no plugin: build package-benchmark's BenchmarkTool and
# every suite under Benchmarks/ in release mode, then run BenchmarkTool with the
# malloc interposer preloaded and the arguments the plugin passes (`--debug` on the
# plugin prints them).
#
#   ./gates.sh                      # every suite
#   ./gates.sh ReactorBenchmarks    # named suites only
#
# Exit status: BenchmarkTool's own (0 every gate equal, 2 a regression, 4 an
# improvement: update Thresholds/ then), or the build's.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$#" -gt 0 ]; then
    suites=("$@")
else
    suites=()
    for dir in Benchmarks/*/; do suites+=("$(basename "$dir")"); done
fi

swift build -c release --product BenchmarkTool
swift build -c release --product MallocInterposerSwift
bin=$(swift build -c release --show-bin-path)

args=()
for suite in "${suites[@]}"; do
    swift build -c release --product "$suite"
    args+=(--targets "$suite" --benchmark-executable-paths "$bin/$suite")
done

# No progress bars in a log.
[ -t 1 ] || args+=(--no-progress)

LD_PRELOAD="$bin/libMallocInterposerSwift.so${LD_PRELOAD:+:$LD_PRELOAD}" \
    "$bin/BenchmarkTool" --command thresholds --thresholds-operation check \
    --baseline-storage-path "$PWD/" --format text --grouping benchmark \
    --benchmark-package-identifier benchmark "${args[@]}"
