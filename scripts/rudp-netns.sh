#!/usr/bin/env bash
# ReliableUDP over a real lossy link: two network namespaces joined by a veth
# pair, nftables dropping a random LOSS% of packets in each direction, then
#   1. feedreactor rudp-bench --guarantee delivery against rudp-echo (must complete), and
#   2. the same 64-byte messages over TCP (scripts/tcp_echo_bench.py) on the same link,
# printing one line per run. Needs root, iproute2 and nftables. Creates and
# deletes namespaces rudp-a-$$ and rudp-b-$$.
#
#   scripts/rudp-netns.sh [LOSS_PERCENT...]        # default: 1 5
#   FEEDREACTOR=.build/release/feedreactor MESSAGES=20000 scripts/rudp-netns.sh 1
#   RUDP_ONLY=1 TIMEOUT=30 scripts/rudp-netns.sh 1 5   # no TCP runs (the Swift test's mode)
#   GRANULARITY_US=1000 scripts/rudp-netns.sh 1        # RFC 9002's recommended kGranularity (default: the tools' 100)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FEEDREACTOR:-.build/debug/feedreactor}
MESSAGES=${MESSAGES:-20000}
GRANULARITY=()
[[ -n ${GRANULARITY_US:-} ]] && GRANULARITY=(--granularity-us "$GRANULARITY_US")
TIMEOUT=${TIMEOUT:-100}
A=rudp-a-$$
B=rudp-b-$$
[[ $(id -u) == 0 ]] || { echo "rudp-netns.sh: needs root (network namespaces, nftables)" >&2; exit 2; }
command -v nft >/dev/null || { echo "rudp-netns.sh: nft not found: apt-get install -y nftables" >&2; exit 2; }
[[ -x $BIN ]] || { echo "rudp-netns.sh: $BIN not built: swift build" >&2; exit 2; }

cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$A"
ip netns add "$B"
ip link add name va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev va
ip -n "$B" addr add 10.77.0.2/24 dev vb
ip -n "$A" link set va up
ip -n "$B" link set vb up
ip -n "$A" link set lo up
ip -n "$B" link set lo up

loss() {
    # BENCHMARKING.md's rule, for UDP and TCP alike, on input in both namespaces.
    for ns in "$A" "$B"; do
        ip netns exec "$ns" nft delete table inet loss 2>/dev/null || true
        ip netns exec "$ns" nft add table inet loss
        ip netns exec "$ns" nft "add chain inet loss in { type filter hook input priority 0; }"
        ip netns exec "$ns" nft "add rule inet loss in meta l4proto { udp, tcp } numgen random mod 100 < $1 drop"
    done
}

status=0
for percent in "${@:-1 5}"; do
  for p in $percent; do
    loss "$p"
    ip netns exec "$A" "$BIN" rudp-echo --listen 10.77.0.1:9000 --timeout 120 "${GRANULARITY[@]}" >/dev/null 2>/tmp/rudp-echo-$$.log &
    echo_pid=$!
    sleep 0.5   # the echo binds within milliseconds; a retried hello would cover a late one anyway
    if line=$(ip netns exec "$B" "$BIN" rudp-bench --connect 10.77.0.1:9000 --guarantee delivery \
                --size 64 --messages "$MESSAGES" --window 16 --timeout "$TIMEOUT" "${GRANULARITY[@]}"); then
        echo "loss=${p}% rudp $line"
    else
        echo "loss=${p}% rudp FAILED: $line" ; status=1
    fi
    kill -KILL "$echo_pid" 2>/dev/null || true   # rudp-echo runs until its --timeout otherwise
    wait "$echo_pid" 2>/dev/null || true
    [[ -n ${RUDP_ONLY:-} ]] && continue
    ip netns exec "$A" python3 scripts/tcp_echo_bench.py serve 10.77.0.1 9001 &
    tcp_pid=$!
    sleep 0.5
    echo "loss=${p}% tcp  $(ip netns exec "$B" python3 scripts/tcp_echo_bench.py bench 10.77.0.1 9001 "$MESSAGES" 16)"
    kill "$tcp_pid" 2>/dev/null || true
    wait "$tcp_pid" 2>/dev/null || true
  done
done
exit $status
