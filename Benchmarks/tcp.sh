#!/usr/bin/env bash
# TCP over loopback: FeedReactor (`feedreactor tcp-bench`) against the C
# baselines (c/tcp_bulk.c, c/tcp_pingpong.c) and SwiftNIO (NIOTCPServer),
# alternating within each round; medians of ROUNDS runs and their ratios.
#
#   ./tcp.sh                       # ROUNDS=5 BYTES=1073741824 COUNT=50000 CONNECTIONS=1000
#   SKIP_BUILD=1 ROUNDS=7 ./tcp.sh
#
# Rows:
#   bulk: one connection, BYTES sent by the C source (blocking 64 KiB writes,
#         CPU 0) into each sink (CPU 1): gbps from first to last byte.
#   pingpong: 64-byte messages, one connection, busy-polling both ends: C
#         tcp_pingpong echo+ping vs FeedReactor echo (--idle spin) + pingpong
#         (--idle spin); p50 one-way (RTT/2) ns.
#   echo: CONNECTIONS connections from `feedreactor tcp-bench pingpong` (its own
#         process, CPU 0) against the FeedReactor echo and the SwiftNIO echo
#         server (CPU 1): messages per second.
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-5}
BYTES=${BYTES:-1073741824}
COUNT=${COUNT:-50000}
CONNECTIONS=${CONNECTIONS:-1000}
PORT=${PORT:-47300}
mkdir -p c/bin
cc -O2 -o c/bin/tcp_bulk c/tcp_bulk.c
cc -O2 -o c/bin/tcp_pingpong c/tcp_pingpong.c
if [ -z "${SKIP_BUILD:-}" ]; then
  (cd .. && swift build -c release --product feedreactor >/dev/null)
  swift build -c release --product NIOTCPServer >/dev/null
fi
FR=../.build/release/feedreactor
NIO=.build/release/NIOTCPServer
raw=$(mktemp)
server_pid=
# A failed row must not leave its server listening (set -e exits mid-row).
trap 'if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi; rm -f "$raw" "$raw".s.*' EXIT
next_port() { PORT=$((PORT + 1)); echo "$PORT"; }

# Starts a server command in the background (CPU 1) and waits for `ready`.
start_server() {
  local log=$1; shift
  # A stale `ready` from the previous server's log would race the redirection.
  rm -f "$log.out" "$log.err"
  taskset -c 1 "$@" >"$log.out" 2>"$log.err" &
  server_pid=$!
  for _ in $(seq 1 500); do grep -q ready "$log.err" 2>/dev/null && return 0; sleep 0.01; done
  echo "server did not start: $*" >&2; cat "$log.err" >&2; return 1
}

bulk() {
  local name=$1; shift
  local port; port=$(next_port)
  start_server "$raw.s" "$@" --listen 127.0.0.1:$port
  taskset -c 0 c/bin/tcp_bulk --mode source --connect 127.0.0.1:$port --bytes "$BYTES" >/dev/null
  wait "$server_pid" || true
  echo "bulk $name $(grep gbps= "$raw.s.out")" | tee -a "$raw" >&2
}

pingpong() {
  local name=$1 ping=$2; shift 2
  local port; port=$(next_port)
  start_server "$raw.s" "$@" --listen 127.0.0.1:$port
  local out
  if [ "$ping" = c ]; then
    out=$(taskset -c 0 c/bin/tcp_pingpong --mode ping --connect 127.0.0.1:$port --count "$COUNT")
  else
    out=$(taskset -c 0 $FR tcp-bench pingpong --connect 127.0.0.1:$port --count "$COUNT" --idle spin)
  fi
  kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true
  echo "pingpong $name $out" | tee -a "$raw" >&2
}

echo_row() {
  local name=$1; shift
  local port; port=$(next_port)
  start_server "$raw.s" "$@" --listen 127.0.0.1:$port
  local out
  out=$(taskset -c 0 $FR tcp-bench pingpong --connect 127.0.0.1:$port --connections "$CONNECTIONS" \
        --count $((COUNT * 4)) --warmup "$CONNECTIONS")
  kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true
  echo "echo $name $out" | tee -a "$raw" >&2
}

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round" >&2
  bulk c c/bin/tcp_bulk --mode sink
  bulk fr-epoll $FR tcp-bench sink --backend epoll
  bulk nio $NIO sink
  pingpong c c c/bin/tcp_pingpong --mode echo
  pingpong fr-epoll-spin fr $FR tcp-bench echo --backend epoll --idle spin --max-connections 16
  echo_row fr-epoll $FR tcp-bench echo --backend epoll --max-connections $((CONNECTIONS + 16))
  echo_row nio $NIO echo
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print a[int((NR+1)/2)]}'; }
field() { grep "^$1 $2 " "$raw" | sed -n "s/.*$3=\([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

c=$(field bulk c gbps | median); fr=$(field bulk fr-epoll gbps | median); nio=$(field bulk nio gbps | median)
echo "| bulk ${BYTES} B | FeedReactor epoll | C epoll+read(256K) | SwiftNIO | vs C | vs NIO |"
echo "|---|---|---|---|---|---|"
echo "| Gbit/s | $fr | $c | $nio | $(ratio "$fr" "$c") | $(ratio "$fr" "$nio") |"
c50=$(field pingpong c p50_ns | median); fr50=$(field pingpong fr-epoll-spin p50_ns | median)
c99=$(field pingpong c p99_ns | median); fr99=$(field pingpong fr-epoll-spin p99_ns | median)
echo
echo "| 64 B ping-pong, one-way ns | p50 | p99 | p50 minus C |"
echo "|---|---|---|---|"
echo "| C busy-poll | $c50 | $c99 | 0 |"
echo "| FeedReactor epoll spin | $fr50 | $fr99 | $((fr50 - c50)) |"
fre=$(field echo fr-epoll msgs_per_s | median); nioe=$(field echo nio msgs_per_s | median)
echo
echo "| echo, $CONNECTIONS connections | FeedReactor epoll | SwiftNIO | vs NIO |"
echo "|---|---|---|---|"
echo "| msgs/s | $fre | $nioe | $(ratio "$fre" "$nioe") |"
rm -f "$raw" "$raw".s.*
