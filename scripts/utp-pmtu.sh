#!/usr/bin/env bash
# µTP path-MTU discovery against a real router (root): sender A and receiver B in
# network namespaces joined through a router namespace R (forwarding on). A's link
# to R has MTU 1500, R's link to B only NEXT_HOP_MTU (1280 by default), so a
# datagram from A larger than that, sent with DF set (IP_PMTUDISC_DO), is dropped
# by R's kernel with an ICMP "fragmentation needed" naming the next-hop MTU
# (RFC 1191). The sender's first probe tries its route MTU (1500); the ICMP report
# read from its error queue (IP_RECVERR) must set the path MTU to NEXT_HOP_MTU.
#
#   scripts/utp-pmtu.sh [MIB] [NEXT_HOP_MTU]
#   NO_DISCOVERY=1 scripts/utp-pmtu.sh        # every packet at 1500 until the ICMP:
#                                             # those in flight are resent with DF clear
# BACKEND=uring picks utp-cat's backend (default epoll).
#
# Output: `key=value` lines; the last is `pmtu byte_exact=yes mtu=1280 ...`.
# Exit 0 when the transfer is byte-exact and the sender ended at NEXT_HOP_MTU.
# FEEDREACTOR=path picks the binary (default .build/release/feedreactor).
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-4}
HOP=${2:-1280}
BIN=$(realpath "${FEEDREACTOR:-.build/release/feedreactor}")
[[ $(id -u) == 0 ]] || { echo "needs root (network namespaces)" >&2; exit 2; }
source scripts/router-namespaces.sh
A=pmta$$; R=pmtr$$; B=pmtb$$
make_router_namespaces 78
# The next hop's MTU: R's link to B (both ends).
ip -n $R link set rb$$ mtu "$HOP"
ip -n $B link set b$$ mtu "$HOP"

head -c $((MIB * 1024 * 1024)) /dev/urandom > "$WORK/in.bin"
ip netns exec $B "$BIN" utp-cat -l -p 9000 --timeout 60 > "$WORK/out.bin" 2> "$WORK/listen.err" < /dev/null &
listener=$!
# The listener prints "listening on ..." once bound: wait for it (bounded).
for _ in $(seq 1 100); do grep -q listening "$WORK/listen.err" 2>/dev/null && break; sleep 0.05; done
flags=(--backend "${BACKEND:-epoll}")
[[ -n "${NO_DISCOVERY:-}" ]] && flags+=(--no-mtu-discovery)
ip netns exec $A "$BIN" utp-cat 10.78.0.2 9000 --timeout 60 "${flags[@]}" < "$WORK/in.bin" > /dev/null 2> "$WORK/send.err"
wait $listener
same=no
cmp -s "$WORK/in.bin" "$WORK/out.bin" && same=yes
summary=$(grep -E '^mtu=' "$WORK/send.err" || true)
echo "pmtu sender: $summary"
echo "pmtu sender: $(tail -n 1 "$WORK/send.err")"
echo "pmtu route_after: $(ip -n $A route get 10.78.0.2 | tr '\n' ' ' | tr -s ' ')"
mtu=$(sed -n 's/^mtu=\([0-9]*\).*/\1/p' <<< "$summary")
reports=$(sed -n 's/.*too_big_reports=\([0-9]*\).*/\1/p' <<< "$summary")
echo "pmtu byte_exact=$same mtu=$mtu too_big_reports=$reports next_hop_mtu=$HOP"
[[ $same == yes && $mtu == "$HOP" && ${reports:-0} -ge 1 ]]
