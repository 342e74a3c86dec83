#!/usr/bin/env bash
# µTP under real network conditions (root): two network namespaces joined by a veth
# pair; the sender's egress is a tbf bottleneck, the receiver's input drops a share
# of UDP with nftables (this kernel has no netem).
#
#   scripts/utp-netns.sh [MIB] [RATE] [LOSS_PERCENT] [COMPETE_SECONDS]
#   scripts/utp-netns.sh 50 50mbit 2 20        # the README figures
#
# 1. a MIB-MiB `feedreactor utp-cat` transfer across the bottleneck, checked with cmp;
# 2. the same transfer while a bulk TCP flow (python3 sockets) shares the bottleneck
#    (TCP is not subject to the UDP drop): prints each flow's throughput and the
#    queueing delay µTP measured. LEDBAT yields: µTP's share falls far below TCP's.
# Output: `key=value` lines on stdout. FEEDREACTOR=path picks the binary
# (default .build/release/feedreactor).
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-50}
RATE=${2:-50mbit}
LOSS=${3:-2}
COMPETE=${4:-20}
BIN=$(realpath "${FEEDREACTOR:-.build/release/feedreactor}")
PY=/usr/bin/python3
[[ $(id -u) == 0 ]] || { echo "needs root (network namespaces, tc, nft)" >&2; exit 2; }
command -v nft >/dev/null || { echo "nft missing: apt-get install -y nftables" >&2; exit 2; }
A=utpa$$; B=utpb$$
WORK=$(mktemp -d)
cleanup() { ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
ip netns add $A
ip netns add $B
ip link add va$$ netns $A type veth peer name vb$$ netns $B
ip -n $A addr add 10.77.0.1/24 dev va$$
ip -n $B addr add 10.77.0.2/24 dev vb$$
for ns in $A $B; do ip -n $ns link set lo up; done
ip -n $A link set va$$ up
ip -n $B link set vb$$ up
# The bottleneck: A -> B at RATE, a queue of up to 300 ms (a home uplink's buffer).
tc -n $A qdisc add dev va$$ root tbf rate "$RATE" burst 32kb latency 300ms
ip netns exec $B nft -f - <<NFT
table inet loss { chain in { type filter hook input priority 0; meta l4proto udp numgen random mod 100 < $LOSS drop; } }
NFT

head -c $((MIB * 1024 * 1024)) /dev/urandom > "$WORK/in.bin"

utp_transfer() {   # $1: tag
    ip netns exec $B "$BIN" utp-cat -l -p 9000 --timeout 300 > "$WORK/out.bin" 2> "$WORK/listen.err" < /dev/null &
    local listener=$!
    sleep 0.3
    local start end
    start=$(date +%s.%N)
    ip netns exec $A "$BIN" utp-cat 10.77.0.2 9000 --timeout 300 < "$WORK/in.bin" > /dev/null 2> "$WORK/send.err"
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

utp_transfer alone

# A bulk TCP flow on the same bottleneck, for COMPETE seconds.
cat > "$WORK/tcp.py" <<'PY'
import socket, sys, time
mode = sys.argv[1]
if mode == "sink":
    server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("10.77.0.2", 9100)); server.listen(1)
    conn, _ = server.accept(); total = 0; start = time.time()
    while True:
        data = conn.recv(1 << 16)
        if not data: break
        total += len(data)
    seconds = time.time() - start
    print("tcp bytes=%d seconds=%.2f mbit_per_s=%.2f" % (total, seconds, total * 8 / seconds / 1e6), flush=True)
else:
    conn = socket.create_connection(("10.77.0.2", 9100)); block = b"x" * (1 << 16); end = time.time() + float(sys.argv[2])
    while time.time() < end: conn.sendall(block)
    conn.close()
PY
ip netns exec $B $PY "$WORK/tcp.py" sink > "$WORK/tcp.out" &
sink=$!
sleep 0.3
ip netns exec $A $PY "$WORK/tcp.py" source "$COMPETE" &
source=$!
sleep 2   # TCP fills the queue first
utp_transfer competing || true
wait $source
wait $sink
cat "$WORK/tcp.out"
