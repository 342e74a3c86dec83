#!/usr/bin/env bash
# ReliableUDP loopback throughput as a ratio to raw UDP (issue 14's benchmark):
# Time.Loopback.Delivery (Endpoint -> EndpointServer, 64-byte `delivery`
# messages, no grouping), Time.Loopback.DeliveryGrouped (grouping, 50 µs) and
# Time.Loopback.RawUDP (the same 16 datagrams of 64 bytes sent on a connected
# socket and received through a reactor, no protocol), in alternating order for
# ROUNDS rounds. Each iteration of these benchmarks moves 16 messages (`burst`
# in ReliableUDPBenchmarks/Rigs.swift) and each sample is 1000 iterations
# (`scalingFactor: .kilo`), so msgs/s = 16 * 1000 / (median sample wall clock).
# Prints a markdown table of per-round msgs/s and ratios, and their medians.
#
#   Benchmarks/rudp-loopback.sh                  # ROUNDS=5
#   ROUNDS=7 SKIP_BUILD=1 Benchmarks/rudp-loopback.sh
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-5}
BIN=.build/release/ReliableUDPBenchmarks
# One release build of the suite; the benchmark executable is then run directly
# (no plugin, so no rebuild per run).
[[ -n ${SKIP_BUILD:-} ]] || swift build -c release --product ReliableUDPBenchmarks >/dev/null
[[ -x $BIN ]] || { echo "rudp-loopback.sh: $BIN missing: swift build -c release --product ReliableUDPBenchmarks" >&2; exit 2; }
MESSAGES_PER_ITERATION=16
ITERATIONS_PER_SAMPLE=1000

# Median wall clock of one sample (ns) of benchmark $1, from the runner's
# "Time (wall clock)" histogram: the row at percentile 0.5. (awk reads to the
# end: exiting early would kill the runner with SIGPIPE and fail the pipeline.)
median_sample_ns() {
    "$BIN" --filter "^$(sed 's/\./\\./g' <<<"$1")\$" 2>/dev/null | awk '
        /^Time \(wall clock\):/ { inside = 1; next }
        inside && /^[A-Z]/ { inside = 0 }
        inside && $2 == "0.500000000000" && !found { found = $1 }
        END { if (found) print found }'
}

msgs_per_s() { awk -v ns="$1" -v m=$MESSAGES_PER_ITERATION -v i=$ITERATIONS_PER_SAMPLE 'BEGIN { printf "%.0f", m * i / (ns / 1e9) }'; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

names=(Time.Loopback.RawUDP Time.Loopback.Delivery Time.Loopback.DeliveryGrouped)
declare -a raw plain grouped ratio_plain ratio_grouped
echo "| round | order | raw UDP msgs/s | delivery msgs/s | grouped msgs/s | delivery / raw | grouped / raw |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for ((round = 1; round <= ROUNDS; round++)); do
    # Rotate the order each round so no benchmark always runs first (or last).
    declare -A result=()
    order=()
    for ((k = 0; k < 3; k++)); do order+=("${names[(k + round - 1) % 3]}"); done
    for name in "${order[@]}"; do
        ns=$(median_sample_ns "$name")
        [[ -n $ns ]] || { echo "rudp-loopback.sh: no wall clock median for $name" >&2; exit 1; }
        result[$name]=$(msgs_per_s "$ns")
    done
    r=${result[Time.Loopback.RawUDP]}; d=${result[Time.Loopback.Delivery]}; g=${result[Time.Loopback.DeliveryGrouped]}
    rd=$(awk -v a="$d" -v b="$r" 'BEGIN { printf "%.3f", a / b }')
    rg=$(awk -v a="$g" -v b="$r" 'BEGIN { printf "%.3f", a / b }')
    raw+=("$r"); plain+=("$d"); grouped+=("$g"); ratio_plain+=("$rd"); ratio_grouped+=("$rg")
    short=$(printf '%s ' "${order[@]#Time.Loopback.}")
    echo "| $round | ${short% } | $r | $d | $g | $rd | $rg |"
    unset result
done
m() { printf '%s\n' "$@" | median; }
echo "| **median** | | $(m "${raw[@]}") | $(m "${plain[@]}") | $(m "${grouped[@]}") | **$(m "${ratio_plain[@]}")** | **$(m "${ratio_grouped[@]}")** |"
