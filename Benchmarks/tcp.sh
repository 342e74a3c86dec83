#!/usr/bin/env bash
# TCP over loopback: FeedReactor (`feedreactor tcp-bench`) against the C
# baselines (c/tcp_bulk.c, c/tcp_pingpong.c, c/tcp_echo.c) and SwiftNIO (NIOTCPServer),
# alternating within each round; per-round ratios and their medians (the
# machine is shared: a ratio from one round compares runs seconds apart).
#
#   ./tcp.sh                       # ROUNDS=5 BYTES=1073741824 COUNT=50000 CONNECTIONS=1000
#   SKIP_BUILD=1 ROUNDS=7 RT=1 BACKENDS="epoll uring" ./tcp.sh
#   ROWS="bulk echo" ./tcp.sh      # only these rows (default: bulk pingpong echo)
#   TABLES_FROM=run.log ./tcp.sh   # only the tables, from a run's stderr (its row lines)
#
# Rows (each FeedReactor row once per backend in BACKENDS):
#   bulk: one connection, BYTES sent by the C source (blocking 64 KiB writes,
#         CPU 0) into each sink (CPU 1): gbps from first to last byte.
#   pingpong: 64-byte messages, one connection, busy-polling both ends: C
#         tcp_pingpong echo+ping vs FeedReactor echo (--idle spin) + pingpong
#         (--idle spin); p50 one-way (RTT/2) ns.
#   echo: CONNECTIONS connections from `feedreactor tcp-bench pingpong` (its own
#         process, CPU 0) against the C epoll echo server (c/tcp_echo.c), the
#         FeedReactor echo and the SwiftNIO echo server (CPU 1): messages per second.
# Each table gives C vs SwiftNIO too (same rounds): the ceiling a ratio against
# SwiftNIO can reach with this kernel work per byte or message.
# RT=1 runs both ends SCHED_FIFO (chrt -f 10): on a machine busy with other work
# a spinning process is otherwise preempted mid-round trip. Don't run tests
# meanwhile: they starve.
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-5}
BYTES=${BYTES:-1073741824}
COUNT=${COUNT:-50000}
CONNECTIONS=${CONNECTIONS:-1000}
BACKENDS=${BACKENDS:-epoll}
ROWS=${ROWS:-bulk pingpong echo}
RT=${RT:-0}
# Below the ephemeral range (32768-60999): no clash with other programs' connections.
PORT=${PORT:-23300}
priority=()
[[ $RT == 1 ]] && priority=(chrt -f 10)
mkdir -p c/bin
cc -O2 -o c/bin/tcp_bulk c/tcp_bulk.c
cc -O2 -o c/bin/tcp_pingpong c/tcp_pingpong.c
cc -O2 -o c/bin/tcp_echo c/tcp_echo.c
if [ -z "${SKIP_BUILD:-}" ] && [ -z "${TABLES_FROM:-}" ]; then
  (cd .. && swift build -c release --product feedreactor >/dev/null)
  swift build -c release --product NIOTCPServer >/dev/null
fi
FR=../.build/release/feedreactor
NIO=.build/release/NIOTCPServer
raw=$(mktemp)
server_pid=
# A failed row must not leave its server listening (set -e exits mid-row).
trap 'if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi; rm -f "$raw" "$raw".s.*' EXIT

# Starts a server command in the background (CPU 1) and waits for `ready`.
start_server() {
  local log=$1; shift
  # A stale `ready` from the previous server's log would race the redirection.
  rm -f "$log.out" "$log.err"
  "${priority[@]}" taskset -c 1 "$@" >"$log.out" 2>"$log.err" &
  server_pid=$!
  for _ in $(seq 1 500); do grep -q ready "$log.err" 2>/dev/null && return 0; sleep 0.01; done
  echo "server did not start: $*" >&2; cat "$log.err" >&2; return 1
}

bulk() {
  local name=$1; shift
  PORT=$((PORT + 1)); local port=$PORT   # (not $(...): a subshell would not advance PORT)
  start_server "$raw.s" "$@" --listen 127.0.0.1:$port
  "${priority[@]}" taskset -c 0 c/bin/tcp_bulk --mode source --connect 127.0.0.1:$port --bytes "$BYTES" >/dev/null
  wait "$server_pid" || true
  echo "bulk $name $(grep gbps= "$raw.s.out")" | tee -a "$raw" >&2
}

pingpong() {
  local name=$1 ping=$2; shift 2
  PORT=$((PORT + 1)); local port=$PORT   # (not $(...): a subshell would not advance PORT)
  start_server "$raw.s" "$@" --listen 127.0.0.1:$port
  local out
  if [ "$ping" = c ]; then
    out=$("${priority[@]}" taskset -c 0 c/bin/tcp_pingpong --mode ping --connect 127.0.0.1:$port --count "$COUNT")
  else
    out=$("${priority[@]}" taskset -c 0 $FR tcp-bench pingpong --connect 127.0.0.1:$port --count "$COUNT" --idle spin) \
      || { out=failed; cat "$raw.s.err" >&2; }
  fi
  kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true
  echo "pingpong $name $out" | tee -a "$raw" >&2
}

echo_row() {
  local name=$1; shift
  PORT=$((PORT + 1)); local port=$PORT   # (not $(...): a subshell would not advance PORT)
  start_server "$raw.s" "$@" --listen 127.0.0.1:$port
  local out
  # A failed row is reported (with the server's stderr) and the run goes on.
  out=$("${priority[@]}" taskset -c 0 $FR tcp-bench pingpong --connect 127.0.0.1:$port --connections "$CONNECTIONS" \
        --count $((COUNT * 4)) --warmup "$CONNECTIONS") || { out=failed; cat "$raw.s.err" >&2; }
  kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true
  echo "echo $name $out" | tee -a "$raw" >&2
}

if [ -n "${TABLES_FROM:-}" ]; then cp "$TABLES_FROM" "$raw"; ROUNDS=0; fi
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round" >&2
  if [[ " $ROWS " == *" bulk "* ]]; then
    bulk c c/bin/tcp_bulk --mode sink
    for b in $BACKENDS; do bulk fr-$b $FR tcp-bench sink --backend $b; done
    bulk nio $NIO sink
  fi
  if [[ " $ROWS " == *" pingpong "* ]]; then
    pingpong c c c/bin/tcp_pingpong --mode echo
    for b in $BACKENDS; do pingpong fr-$b-spin fr $FR tcp-bench echo --backend $b --idle spin --max-connections 16; done
  fi
  if [[ " $ROWS " == *" echo "* ]]; then
    echo_row c c/bin/tcp_echo --max-connections $((CONNECTIONS + 16))
    for b in $BACKENDS; do echo_row fr-$b $FR tcp-bench echo --backend $b --max-connections $((CONNECTIONS + 16)); done
    echo_row nio $NIO echo
  fi
done

# Values of a row in round order (one per round).
field() { { grep "^$1 $2 " "$raw" || true; } | sed -n "s/.*$3=\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print a[int((NR+1)/2)]}'; }
# Median over rounds of a/b (or a-b with op=-), pairing the rows round by round.
paired() {
  paste <(echo "$1") <(echo "$2") | awk -v op="${3:-/}" 'NF == 2 && $2 != 0 {
    if (op == "/") printf "%.3f\n", $1 / $2; else printf "%d\n", $1 - $2 }' | median
}

c=$(field bulk c gbps); nio=$(field bulk nio gbps)
echo "| bulk ${BYTES} B, Gbit/s | median | vs C (median of round ratios) | vs SwiftNIO |"
echo "|---|---|---|---|"
echo "| C epoll+read(256K) | $(echo "$c" | median) | 1 | $(paired "$c" "$nio") |"
echo "| SwiftNIO | $(echo "$nio" | median) | | 1 |"
for b in $BACKENDS; do
  fr=$(field bulk fr-$b gbps)
  echo "| FeedReactor $b | $(echo "$fr" | median) | $(paired "$fr" "$c") | $(paired "$fr" "$nio") |"
done
c50=$(field pingpong c p50_ns); c99=$(field pingpong c p99_ns)
echo
echo "| 64 B ping-pong, one-way ns | p50 | p99 | p50 minus C (median of rounds) |"
echo "|---|---|---|---|"
echo "| C busy-poll | $(echo "$c50" | median) | $(echo "$c99" | median) | 0 |"
for b in $BACKENDS; do
  fr50=$(field pingpong fr-$b-spin p50_ns); fr99=$(field pingpong fr-$b-spin p99_ns)
  echo "| FeedReactor $b spin | $(echo "$fr50" | median) | $(echo "$fr99" | median) | $(paired "$fr50" "$c50" -) |"
done
nioe=$(field echo nio msgs_per_s); ce=$(field echo c msgs_per_s)
echo
echo "| echo, $CONNECTIONS connections, msgs/s | median | vs SwiftNIO (median of round ratios) | vs C |"
echo "|---|---|---|---|"
echo "| C epoll+read/write | $(echo "$ce" | median) | $(paired "$ce" "$nioe") | 1 |"
echo "| SwiftNIO | $(echo "$nioe" | median) | 1 | |"
for b in $BACKENDS; do
  fre=$(field echo fr-$b msgs_per_s)
  echo "| FeedReactor $b | $(echo "$fre" | median) | $(paired "$fre" "$nioe") | $(paired "$fre" "$ce") |"
done
