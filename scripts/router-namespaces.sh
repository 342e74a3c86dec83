# Sourced by the µTP namespace scripts (utp-netns.sh, utp-pmtu.sh): sender A and
# receiver B in network namespaces joined through a router namespace R with
# forwarding on, named by the caller's $A $R $B:
#
#   A 10.N.1.1 (a$$) --- (ra$$) 10.N.1.254  R  10.N.0.254 (rb$$) --- (b$$) 10.N.0.2 B
#
# The caller shapes R's rb$$ (tbf, MTU). make_router_namespaces also makes $WORK,
# a temporary directory; both go at exit (an EXIT trap).

# $1: N, the second octet of every address.
make_router_namespaces() {
    local net=$1 ns
    WORK=$(mktemp -d)
    trap delete_router_namespaces EXIT
    for ns in $A $R $B; do ip netns add $ns; ip -n $ns link set lo up; done
    ip link add a$$ netns $A type veth peer name ra$$ netns $R
    ip link add b$$ netns $B type veth peer name rb$$ netns $R
    ip -n $A addr add 10.$net.1.1/24 dev a$$
    ip -n $R addr add 10.$net.1.254/24 dev ra$$
    ip -n $R addr add 10.$net.0.254/24 dev rb$$
    ip -n $B addr add 10.$net.0.2/24 dev b$$
    ip -n $A link set a$$ up; ip -n $B link set b$$ up
    ip -n $R link set ra$$ up; ip -n $R link set rb$$ up
    ip -n $A route add default via 10.$net.1.254
    ip -n $B route add default via 10.$net.0.254
    ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
}

delete_router_namespaces() {
    local ns
    for ns in $A $R $B; do ip netns del $ns 2>/dev/null || true; done
    rm -rf "$WORK"
}
