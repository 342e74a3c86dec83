#!/usr/bin/env bash
# One-way UDP latency over loopback: FeedReactor's two-reactor ping-pong
# (`feedreactor latency-bench`) against the C busy-poll ping-pong (c/pingpong.c),
# alternating within each round; medians of the per-run percentiles.
#
#   ./latency.sh                      # ROUNDS=5 COUNT=50000
#   ROWS="c-busy-poll fr-epoll-spin fr-epoll-block" OLD_FR=/tmp/old/.build/release/feedreactor SKIP_BUILD=1 ./latency.sh
#
# Rows: C busy-poll; FeedReactor epoll spin (busy polling: sockets read directly);
# epoll spin through epoll_wait (--no-busy-poll); io_uring spin; epoll block; and
# epoll spin with kernel receive timestamps (SO_TIMESTAMPNS), whose extra stderr
# line is the time from the kernel's receive stamp to the echo side's callback.
# One-way = RTT/2, in nanoseconds; both sides pinned (ping CPU 0, echo CPU 1).
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-50000}
mkdir -p c/bin
cc -O2 -pthread -o c/bin/pingpong c/pingpong.c
[[ -n "${SKIP_BUILD:-}" ]] || (cd .. && swift build -c release --product feedreactor >/dev/null)
FR=../.build/release/feedreactor
# OLD_FR=/path/to/an/older/feedreactor adds its epoll spin and block rows
# (fr-old-*), alternating with the rest: the before/after of a change.
OLD_FR=${OLD_FR:-}
declare -A rows=(
  [c-busy-poll]="c/bin/pingpong --count $COUNT --pin 0 --echo-pin 1"
  [fr-epoll-spin]="$FR latency-bench --count $COUNT --idle spin --backend epoll"
  [fr-epoll-spin-epollwait]="$FR latency-bench --count $COUNT --idle spin --backend epoll --no-busy-poll"
  [fr-uring-spin]="$FR latency-bench --count $COUNT --idle spin --backend uring"
  [fr-epoll-block]="$FR latency-bench --count $COUNT --idle block --backend epoll"
  [fr-epoll-spin-ts]="$FR latency-bench --count $COUNT --idle spin --backend epoll --timestamps"
)
order=(${ROWS:-c-busy-poll fr-epoll-spin fr-epoll-spin-epollwait fr-uring-spin fr-epoll-block fr-epoll-spin-ts})
if [[ -n "$OLD_FR" ]]; then
  rows[fr-old-epoll-spin]="$OLD_FR latency-bench --count $COUNT --idle spin --backend epoll"
  rows[fr-old-epoll-block]="$OLD_FR latency-bench --count $COUNT --idle block --backend epoll"
  order+=(fr-old-epoll-spin fr-old-epoll-block)
fi
raw=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
  for name in "${order[@]}"; do
    out=$(${rows[$name]} 2>"$raw.err" | grep samples= || true)
    kernel=$(grep kernel-receive-to-callback "$raw.err" | sed 's/.*p50_ns=\([0-9]*\).*p99_ns=\([0-9]*\).*/k50=\1 k99=\2/' || true)
    echo "$round $name $out $kernel" | tee -a "$raw" >&2
  done
done
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print a[int((NR+1)/2)]}'; }
field() { grep " $1 " "$raw" | sed -n "s/.*$2=\([0-9]*\).*/\1/p"; }
c50=$(field c-busy-poll p50_ns | median)
echo "| receiver | p50 ns | p99 ns | p99.9 ns | p50 minus C p50 | kernel stamp to callback p50 / p99 ns |"
echo "|---|---|---|---|---|---|"
for name in "${order[@]}"; do
  p50=$(field "$name" p50_ns | median); p99=$(field "$name" p99_ns | median); p999=$(field "$name" p999_ns | median)
  k50=$(field "$name" k50 | median); k99=$(field "$name" k99 | median)
  delta=$([ "$p50" != "-" ] && [ "$c50" != "-" ] && echo $((p50 - c50)) || echo "-")
  kern=$([ "$k50" != "-" ] && echo "$k50 / $k99" || echo "")
  echo "| $name | $p50 | $p99 | $p999 | $delta | $kern |"
done
rm -f "$raw" "$raw.err"
