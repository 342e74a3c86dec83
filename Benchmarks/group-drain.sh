#!/usr/bin/env bash
# One reactor per core: two reactors on two CPUs draining two pre-filled
# sockets, against one reactor draining both, alternating within each round.
#
#   sudo ./group-drain.sh                          # 5 rounds, 1,000,000 datagrams of 64 bytes per socket
#   ROUNDS=7 COUNT=500000 BACKEND=uring ./group-drain.sh
#
# Each run is `feedreactor group-bench`: it fills every socket's receive buffer
# (SO_RCVBUFFORCE, root only) before any reactor exists, then a ReactorGroup
# drains them; pps is the aggregate from the first datagram read to the last.
# The single reactor runs on CPU $SINGLE_CPU, the pair on CPUs 0 and 1. Prints
# each run, then the medians and their ratio (two / one).
#
# RT=1 runs every reactor SCHED_FIFO (chrt -f 10; threads inherit it): on a
# machine busy with other work the pair then has its two CPUs to itself, as
# the single reactor has its one.
#
# Knobs (environment): ROUNDS COUNT SIZE BACKEND SINGLE_CPU RT=0|1 SKIP_BUILD=1
set -euo pipefail
ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-1000000}
SIZE=${SIZE:-64}
BACKEND=${BACKEND:-epoll}
SINGLE_CPU=${SINGLE_CPU:-1}
RT=${RT:-0}
priority=()
[[ "$RT" == 1 ]] && priority=(chrt -f 10)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
if [[ -z "${SKIP_BUILD:-}" ]]; then
    (cd "$ROOT" && swift build -c release --product feedreactor >/dev/null)
fi
FR="$ROOT/.build/release/feedreactor"
[[ $(id -u) -eq 0 ]] || echo "group-drain: not root: the buffers cannot hold $COUNT datagrams; runs will fail" >&2

one=() two=()
run() {  # reactors cpus
    "${priority[@]}" "$FR" group-bench --reactors "$1" --cpus "$2" --sockets 2 --count "$COUNT" --size "$SIZE" --backend "$BACKEND" 2>/dev/null \
        | sed -n 's/^pps=\([0-9]*\).*/\1/p'
}
for ((round = 1; round <= ROUNDS; round++)); do
    # Alternate which configuration goes first, so drift hits both alike.
    if (( round % 2 )); then
        a=$(run 1 "$SINGLE_CPU"); b=$(run 2 0,1)
    else
        b=$(run 2 0,1); a=$(run 1 "$SINGLE_CPU")
    fi
    echo "round $round: one-reactor pps=$a two-reactors pps=$b"
    one+=("$a"); two+=("$b")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
m1=$(median "${one[@]}"); m2=$(median "${two[@]}")
echo "median one-reactor pps=$m1 two-reactors pps=$m2 ratio=$(awk -v a="$m1" -v b="$m2" 'BEGIN {printf "%.2f", b / a}')"
