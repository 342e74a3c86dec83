#!/usr/bin/env bash
# TCP bulk receive on io_uring's completion path vs epoll: `feedreactor tcp-bench
# sink --backend uring` and `--backend epoll` (CPU 1) fed by the C source
# (c/tcp_bulk.c, blocking 64 KiB writes, CPU 0), alternating within each round;
# medians of ROUNDS and the ratio uring / epoll.
#
#   ./tcp-uring.sh                 # ROUNDS=5 BYTES=1073741824
#   SKIP_BUILD=1 ROUNDS=7 ./tcp-uring.sh
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-5}
BYTES=${BYTES:-1073741824}
PORT=${PORT:-23600}   # below the ephemeral range (32768-60999): no clash with other connections
mkdir -p c/bin
cc -O2 -o c/bin/tcp_bulk c/tcp_bulk.c
if [ -z "${SKIP_BUILD:-}" ]; then (cd .. && swift build -c release --product feedreactor >/dev/null); fi
FR=../.build/release/feedreactor
raw=$(mktemp)

bulk() {
  local backend=$1
  PORT=$((PORT + 1))
  rm -f "$raw.out" "$raw.err"   # (a stale `ready` would start the source early)
  taskset -c 1 $FR tcp-bench sink --backend "$backend" --listen 127.0.0.1:$PORT >"$raw.out" 2>"$raw.err" &
  local pid=$!
  for _ in $(seq 1 500); do grep -q ready "$raw.err" 2>/dev/null && break; sleep 0.01; done
  taskset -c 0 c/bin/tcp_bulk --mode source --connect 127.0.0.1:$PORT --bytes "$BYTES" >/dev/null
  wait "$pid" || true
  echo "$backend $(cat "$raw.out")" | tee -a "$raw" >&2
}

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round" >&2
  if [ $((round % 2)) -eq 1 ]; then bulk epoll; bulk uring; else bulk uring; bulk epoll; fi
done
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print a[int((NR+1)/2)]}'; }
field() { grep "^$1 " "$raw" | sed -n 's/.*gbps=\([0-9.]*\).*/\1/p'; }
e=$(field epoll | median); u=$(field uring | median)
echo "| bulk ${BYTES} B, Gbit/s | epoll | io_uring | io_uring / epoll |"
echo "|---|---|---|---|"
echo "| median of $ROUNDS | $e | $u | $(awk -v a="$u" -v b="$e" 'BEGIN { printf "%.2f", a / b }') |"
rm -f "$raw" "$raw".out "$raw".err
