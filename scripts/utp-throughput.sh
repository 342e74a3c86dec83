#!/usr/bin/env bash
# Loopback bulk throughput, same run, alternating: `feedreactor utp-cat` (our µTP),
# libtorrent 2.0's µTP (libtorrent seeding to libtorrent, uTP only, timed by
# Tests/libtorrent/libtorrent_peer.py from connect to completion), and TCP
# (python3 sockets, 64 KiB writes). Prints each round, then medians and ratios.
#
#   scripts/utp-throughput.sh [ROUNDS] [MIB]      # default 5 rounds of 64 MiB
# FEEDREACTOR=path picks the binary (default .build/release/feedreactor).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
MIB=${2:-64}
BIN=$(realpath "${FEEDREACTOR:-.build/release/feedreactor}")
PY=/usr/bin/python3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BYTES=$((MIB * 1024 * 1024))
head -c $BYTES /dev/urandom > "$WORK/in.bin"
free_port() { $PY -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

utp_round() {
    local port; port=$(free_port)
    "$BIN" utp-cat -l -p "$port" -s 127.0.0.1 --timeout 120 > "$WORK/out.bin" 2> "$WORK/l.err" < /dev/null &
    local listener=$!
    sleep 0.2
    local start end
    start=$(date +%s.%N)
    "$BIN" utp-cat 127.0.0.1 "$port" --timeout 120 < "$WORK/in.bin" > /dev/null 2> "$WORK/c.err"
    end=$(date +%s.%N)
    wait $listener
    cmp -s "$WORK/in.bin" "$WORK/out.bin" || { echo "utp-cat: output differs" >&2; exit 1; }
    echo "$BYTES / ($end - $start) / 1000000" | bc -l
}

lt_round() {
    rm -rf "$WORK/lt"
    $PY Tests/libtorrent/libtorrent_peer.py bench --dir "$WORK/lt" --size $BYTES | sed -n 's/.*mbytes_per_s=\([0-9.]*\).*/\1/p'
}

tcp_round() {
    $PY - "$BYTES" <<'PY'
import socket, sys, threading, time
total = int(sys.argv[1]); server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
def sink():
    conn, _ = server.accept(); got = 0
    while got < total:
        data = conn.recv(1 << 18)
        if not data: break
        got += len(data)
thread = threading.Thread(target=sink); thread.start()
client = socket.create_connection(server.getsockname()); block = b"x" * (1 << 16); start = time.time(); sent = 0
while sent < total: client.sendall(block); sent += len(block)
thread.join(); seconds = time.time() - start
print("%.2f" % (total / seconds / 1e6))
PY
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
: > "$WORK/utp"; : > "$WORK/lt.txt"; : > "$WORK/tcp"
for round in $(seq 1 "$ROUNDS"); do
    u=$(utp_round); l=$(lt_round); t=$(tcp_round)
    echo "round=$round utp_cat_mbytes_per_s=$(printf %.2f "$u") libtorrent_utp_mbytes_per_s=$l tcp_mbytes_per_s=$t"
    echo "$u" >> "$WORK/utp"; echo "$l" >> "$WORK/lt.txt"; echo "$t" >> "$WORK/tcp"
done
U=$(median < "$WORK/utp"); L=$(median < "$WORK/lt.txt"); T=$(median < "$WORK/tcp")
echo "median utp_cat_mbytes_per_s=$(printf %.2f "$U") libtorrent_utp_mbytes_per_s=$L tcp_mbytes_per_s=$T" \
     "utp_cat_vs_libtorrent=$(echo "$U / $L" | bc -l | cut -c1-5) utp_cat_vs_tcp=$(echo "$U / $T" | bc -l | cut -c1-5) rounds=$ROUNDS bytes=$BYTES"
echo "last utp-cat sender: $(grep '^mtu=' "$WORK/c.err")"
