#!/usr/bin/env bash
# µTP under real network conditions (root): sender A and receiver B in network
# namespaces, joined through a router namespace R. R's egress towards B is a tbf
# bottleneck (a queue of up to 300 ms: a home uplink's buffer); B's input drops a
# share of UDP with nftables (this kernel has no netem). The bottleneck is in R, not
# on A's own interface, so TCP Small Queues on the sender cannot hide the queue.
#
#   scripts/utp-netns.sh [MIB] [RATE] [LOSS_PERCENT] [COMPETE_SECONDS]
#   scripts/utp-netns.sh 50 50mbit 2 45        # the README figures (TCP outlasts µTP)
#
# 1. a MIB-MiB `feedreactor utp-cat` transfer across the bottleneck, checked with cmp;
# 2. the same transfer while a bulk TCP flow (python3 sockets) shares the bottleneck
#    (TCP is not subject to the UDP drop): prints each flow's throughput and the
#    queueing delay µTP measured. LEDBAT yields: µTP's share falls far below TCP's.
# Output: `key=value` lines on stdout. FEEDREACTOR=path picks the binary
# (default .build/release/feedreactor); TRANSFER_ONLY=1 stops after step 1.
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
A=utpa$$; R=utpr$$; B=utpb$$
WORK=$(mktemp -d)
cleanup() { for ns in $A $R $B; do ip netns del $ns 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
for ns in $A $R $B; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add a$$ netns $A type veth peer name ra$$ netns $R
ip link add b$$ netns $B type veth peer name rb$$ netns $R
ip -n $A addr add 10.77.1.1/24 dev a$$
ip -n $R addr add 10.77.1.254/24 dev ra$$
ip -n $R addr add 10.77.0.254/24 dev rb$$
ip -n $B addr add 10.77.0.2/24 dev b$$
ip -n $A link set a$$ up; ip -n $B link set b$$ up
ip -n $R link set ra$$ up; ip -n $R link set rb$$ up
ip -n $A route add default via 10.77.1.254
ip -n $B route add default via 10.77.0.254
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
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
[[ -n "${TRANSFER_ONLY:-}" ]] && exit 0

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
