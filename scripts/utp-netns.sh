#!/usr/bin/env bash
# µTP under real network conditions (root): sender A and receiver B in network
# namespaces, joined through a router namespace R. R's egress towards B is a tbf
# bottleneck (a queue of up to 300 ms: a home uplink's buffer); B's input drops a
# share of UDP with nftables (this kernel has no netem). The bottleneck is in R, not
# on A's own interface, so TCP Small Queues on the sender cannot hide the queue.
#
#   scripts/utp-netns.sh [MIB] [RATE] [LOSS_PERCENT] [COMPETE_SECONDS]
#   scripts/utp-netns.sh 50 50mbit 2 45        # the README figures
#   TCP_FIRST=1 scripts/utp-netns.sh 50 50mbit 0 45   # TCP's queue is there before µTP
#
# 1. a MIB-MiB `feedreactor utp-cat` transfer across the bottleneck, checked with cmp;
# 2. the same transfer while a bulk TCP flow (python3 sockets) shares the bottleneck
#    for COMPETE seconds (see below): each flow's throughput over those seconds, the
#    queueing delay µTP measured and the tbf backlog. LEDBAT yields to TCP.
# Output: `key=value` lines on stdout. FEEDREACTOR=path picks the binary
# (default .build/release/feedreactor); TRANSFER_ONLY=1 stops after step 1,
# SKIP_ALONE=1 skips it; UTP_FLAGS="--libutp-decrease" passes flags to the sender.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-50}
RATE=${2:-50mbit}
LOSS=${3:-2}
COMPETE=${4:-45}
BIN=$(realpath "${FEEDREACTOR:-.build/release/feedreactor}")
PY=/usr/bin/python3
[[ $(id -u) == 0 ]] || { echo "needs root (network namespaces, tc, nft)" >&2; exit 2; }
command -v nft >/dev/null || { echo "nft missing: apt-get install -y nftables" >&2; exit 2; }
source scripts/router-namespaces.sh
A=utpa$$; R=utpr$$; B=utpb$$
make_router_namespaces 77
# The bottleneck: R -> B at RATE, a queue of up to 300 ms.
tc -n $R qdisc add dev rb$$ root tbf rate "$RATE" burst 32kb latency 300ms
ip netns exec $B nft -f - <<NFT
table inet loss {
    chain in {
        type filter hook input priority 0;
        meta l4proto udp numgen random mod 100 < $LOSS drop
    }
}
NFT

head -c $((MIB * 1024 * 1024)) /dev/urandom > "$WORK/in.bin"

utp_transfer() {   # $1: tag
    ip netns exec $B "$BIN" utp-cat -l -p 9000 --timeout 300 > "$WORK/out.bin" 2> "$WORK/listen.err" < /dev/null &
    local listener=$!
    sleep 0.3
    local start end
    start=$(date +%s.%N)
    ip netns exec $A "$BIN" utp-cat 10.77.0.2 9000 --timeout 300 "${utp_flags[@]}" < "$WORK/in.bin" > /dev/null 2> "$WORK/send.err"
    end=$(date +%s.%N)
    wait $listener
    local same=no
    cmp -s "$WORK/in.bin" "$WORK/out.bin" && same=yes
    local seconds
    seconds=$(echo "$end - $start" | bc -l)
    echo "$1 bytes=$((MIB * 1024 * 1024)) byte_exact=$same seconds=$seconds mbit_per_s=$(echo "$MIB * 1024 * 1024 * 8 / $seconds / 1000000" | bc -l | cut -c1-6)"
    echo "$1 sender: $(grep -E '^mtu=' "$WORK/send.err")"
    echo "$1 sender: $(tail -n 1 "$WORK/send.err")"
    [[ $same == yes ]]
}

read -r -a utp_flags <<< "${UTP_FLAGS:-}"
[[ -z "${SKIP_ALONE:-}" ]] && utp_transfer alone
[[ -n "${TRANSFER_ONLY:-}" ]] && exit 0

# 2. Competition: a bulk TCP flow (python3 sockets, not subject to the UDP drop)
#    shares the bottleneck for COMPETE seconds. Default order: µTP runs alone for
#    WARMUP seconds first (its base delay is then the empty queue's, as when a
#    download is under way and a TCP flow starts), then TCP joins. TCP_FIRST=1 starts
#    TCP first: µTP's first delay samples already include TCP's standing queue, so
#    its base delay is too high (LEDBAT's latecomer problem, RFC 6817 section 4.4).
#    Reports µTP's and TCP's throughput over the same COMPETE seconds, the queueing
#    delay µTP measured then (its --stats-interval lines), and the tbf backlog
#    sampled each second (the real queueing delay: backlog bytes / RATE).
#    TCP_FLOWS=N makes the bulk transfer N parallel connections; TCP_CC picks their
#    congestion control (cubic by default, see below).
WARMUP=${WARMUP:-5}
TCP_FLOWS=${TCP_FLOWS:-1}   # parallel TCP connections of the bulk transfer
# The TCP flow's congestion control. This machine's default is BBR, which keeps the
# bottleneck queue near one BDP on purpose: a delay-based LEDBAT cannot see it as a
# queue to yield to. CUBIC (Linux's usual default) fills the buffer until it drops.
TCP_CC=${TCP_CC:-cubic}
cat > "$WORK/tcp.py" <<'PY'
import socket, sys, threading, time
mode, flows = sys.argv[1], int(sys.argv[2])
if mode == "sink":
    server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # SO_RCVBUFFORCE (root): a receive window that autotuning does not hold down.
    server.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)
    server.bind(("10.77.0.2", 9100)); server.listen(flows)
    totals = [0] * flows
    def drain(conn, index):
        while True:
            data = conn.recv(1 << 16)
            if not data: break
            totals[index] += len(data)
    threads = []
    for index in range(flows):
        conn, _ = server.accept()
        if index == 0: start = time.time()
        threads.append(threading.Thread(target=drain, args=(conn, index))); threads[-1].start()
    for thread in threads: thread.join()
    seconds = time.time() - start; total = sum(totals)
    print("tcp flows=%d bytes=%d seconds=%.2f mbit_per_s=%.2f" % (flows, total, seconds, total * 8 / seconds / 1e6), flush=True)
else:
    end = time.time() + float(sys.argv[3])
    def pour():
        conn = socket.socket()
        # The competing flow's congestion control (TCP_CC): loss-based CUBIC by
        # default, the TCP that LEDBAT is meant to yield to (RFC 6817 section 1).
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, sys.argv[4].encode())
        conn.connect(("10.77.0.2", 9100)); block = b"x" * (1 << 16)
        while time.time() < end: conn.sendall(block)
        conn.close()
    threads = [threading.Thread(target=pour) for _ in range(flows)]
    for thread in threads: thread.start()
    for thread in threads: thread.join()
PY
RATE_BITS=$($PY -c "
import re, sys
m = re.fullmatch(r'([0-9.]+)([kmg]?)bit', sys.argv[1].lower())
print(int(float(m.group(1)) * {'': 1, 'k': 1e3, 'm': 1e6, 'g': 1e9}[m.group(2)]))" "$RATE")
backlog_ms() {   # the tbf queue now, in ms at RATE
    local bytes
    bytes=$(tc -n $R -s qdisc show dev rb$$ | sed -n 's/.*backlog \([0-9]*\)b.*/\1/p' | head -n 1)
    echo "${bytes:-0} * 8 * 1000 / $RATE_BITS" | bc -l
}
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

ip netns exec $B "$BIN" utp-cat -l -p 9000 --timeout 600 > "$WORK/out2.bin" 2> "$WORK/listen2.err" < /dev/null &
listener=$!
sleep 0.3
start_tcp() {
    ip netns exec $B $PY "$WORK/tcp.py" sink "$TCP_FLOWS" > "$WORK/tcp.out" &
    sink=$!
    sleep 0.3
    ip netns exec $A $PY "$WORK/tcp.py" source "$TCP_FLOWS" "$COMPETE" "$TCP_CC" &
    source=$!
}
order=utp_first
if [[ -n "${TCP_FIRST:-}" ]]; then
    order=tcp_first
    start_tcp
    sleep 2   # TCP fills the queue first
fi
utp_start=$(date +%s.%N)
ip netns exec $A "$BIN" utp-cat 10.77.0.2 9000 --timeout 600 --stats-interval 1 "${utp_flags[@]}" < "$WORK/in.bin" > /dev/null 2> "$WORK/send2.err" &
sender=$!
if [[ -z "${TCP_FIRST:-}" ]]; then
    sleep "$WARMUP"
    start_tcp
fi
# The competition interval: from TCP's start (µTP-first) or µTP's (TCP-first) to TCP's end.
c0=$(date +%s.%N); b0=$(size_of "$WORK/out2.bin")
: > "$WORK/backlog"
while kill -0 $source 2>/dev/null; do backlog_ms >> "$WORK/backlog"; sleep 1; done
c1=$(date +%s.%N); b1=$(size_of "$WORK/out2.bin")
wait $sink
wait $sender || true
wait $listener || true
same=no
cmp -s "$WORK/in.bin" "$WORK/out2.bin" && same=yes
t0=$(echo "$c0 - $utp_start" | bc -l); t1=$(echo "$c1 - $utp_start" | bc -l)
# µTP's own queueing-delay measurements inside the competition interval.
utp_delay=$(awk -v t0="$t0" -v t1="$t1" '/^stats /{ t = 0; d = -1
    for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "t") t = kv[2]; if (kv[1] == "delay_ms") d = kv[2] }
    if (t > t0 + 1 && t <= t1 && d >= 0) { sum += d; n++ } } END { if (n) printf "%.1f", sum / n; else print "n/a" }' "$WORK/send2.err")
utp_window=$(awk -v t1="$t1" '/^stats /{ for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "t") t = kv[2]; if (kv[1] == "window") w = kv[2] }
    if (t <= t1) last = w } END { print last }' "$WORK/send2.err")
backlog=$(awk '{ sum += $1; n++ } END { if (n) printf "%.1f", sum / n; else print "n/a" }' "$WORK/backlog")
seconds=$(echo "$c1 - $c0" | bc -l)
echo "competing order=$order flags=${UTP_FLAGS:-none} tcp_flows=$TCP_FLOWS tcp_cc=$TCP_CC seconds=$(printf %.1f "$seconds") utp_mbit_per_s=$(echo "($b1 - $b0) * 8 / $seconds / 1000000" | bc -l | cut -c1-6) utp_queueing_delay_ms_mean=$utp_delay utp_window_at_end=$utp_window tbf_backlog_ms_mean=$backlog byte_exact=$same"
echo "competing $(cat "$WORK/tcp.out")"
echo "competing sender: $(grep -E '^mtu=' "$WORK/send2.err")"
[[ -n "${KEEP_STATS:-}" ]] && cp "$WORK/send2.err" "$KEEP_STATS"
[[ $same == yes ]]
