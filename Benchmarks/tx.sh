#!/usr/bin/env bash
# Send throughput of FeedReactor's send path against a C sendmmsg(64) sender.
#
#   sudo ./tx.sh                              # 5 rounds, 1,000,000 datagrams of 64 and 512 bytes
#   ROUNDS=7 SIZES=64 PUBLISHER=0 ./tx.sh
#
# Senders: `feedreactor tx-bench --backend epoll` (Reactor.send(batch:) ->
# sendmmsg), `--backend uring` (one IORING_OP_SEND SQE per datagram, a chain
# per duty cycle) and c/tx_sendmmsg.c (sendmmsg(64) in a loop), all on a
# connected socket, pinned to CPU $SENDER_CPU, alternating within each round
# (the starting one rotates per round). With PUBLISHER=1 the round also runs
# the PublishThroughput example (--udp, 40-byte messages in 1400-byte packets,
# through each backend) and C at 1400 bytes for its ratio.
#
# What is measured is the sender: every sender aims at one UDP socket that is
# bound and never read (an rx-bench waiting for a start file that never
# appears), so the receive queue fills once and the kernel then drops each
# datagram at the socket, the same work for every sender. (A port with nobody
# bound would add ICMP errors; a draining receiver would add its own CPU.) The
# loopback delivery up to that drop runs on the sender's CPU in softirq, alike
# for all; the differences are the senders' own.
#
# Knobs: ROUNDS COUNT SIZES SENDER_CPU PORT PUBLISHER=0|1 PUB_MESSAGES RT=0|1 SKIP_BUILD=1
set -euo pipefail

ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-1000000}
SIZES=${SIZES:-"64 512"}
SENDER_CPU=${SENDER_CPU:-1}
PORT=${PORT:-47900}
PUBLISHER=${PUBLISHER:-1}
PUB_MESSAGES=${PUB_MESSAGES:-4000000}
RT=${RT:-0}

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BIN="$HERE/c/bin"
WORK=$(mktemp -d /tmp/feedreactor-tx.XXXXXX)
SINK_PID=
cleanup() {
    [[ -n "$SINK_PID" ]] && kill "$SINK_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "tx: $*" >&2; }

mkdir -p "$BIN"
if [[ ! -x "$BIN/tx_sendmmsg" || "$HERE/c/tx_sendmmsg.c" -nt "$BIN/tx_sendmmsg" || "$HERE/c/bench_common.h" -nt "$BIN/tx_sendmmsg" ]]; then
    cc -O2 -Wall -o "$BIN/tx_sendmmsg" "$HERE/c/tx_sendmmsg.c"
fi
if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building feedreactor and PublishThroughput (release)"
    (cd "$ROOT" && swift build -c release --product feedreactor >"$WORK/fr.build" 2>&1 \
        && swift build -c release --product PublishThroughput >>"$WORK/fr.build" 2>&1) \
        || { log "build failed:"; tail -5 "$WORK/fr.build" >&2; exit 1; }
fi
FEEDREACTOR="$ROOT/.build/release/feedreactor"
PUBLISH="$ROOT/.build/release/PublishThroughput"

# The sink: bound, never read.
"$FEEDREACTOR" rx-bench --address 127.0.0.1 --port "$PORT" --start-file "$WORK/never" 2>"$WORK/sink.err" &
SINK_PID=$!
for _ in $(seq 100); do grep -q ready "$WORK/sink.err" 2>/dev/null && break; sleep 0.05; done

prefix=(taskset -c "$SENDER_CPU")
[[ "$RT" == 1 ]] && prefix=(chrt -f 10 "${prefix[@]}")

sender_command() {  # name size
    local common=(--address 127.0.0.1 --port "$PORT" --count "$COUNT" --size "$2" --timeout 120)
    case $1 in
        fr-epoll) echo "$FEEDREACTOR tx-bench --backend epoll ${common[*]}" ;;
        fr-uring) echo "$FEEDREACTOR tx-bench --backend uring ${common[*]}" ;;
        c)        echo "$BIN/tx_sendmmsg ${common[*]}" ;;
    esac
}

run_one() {  # name size -> appends pps to $WORK/<name>-<size>
    local line
    line=$("${prefix[@]}" $(sender_command "$1" "$2") 2>"$WORK/last.err" | tail -1) || {
        log "$1 size $2 failed: $(tail -2 "$WORK/last.err")"; return; }
    local pps=${line#pps=}; pps=${pps%% *}
    echo "$pps" >>"$WORK/$1-$2"
    log "round $round $1 size $2: $line"
}

run_publisher() {  # backend -> appends packets/s to $WORK/pub-<backend>
    local line
    line=$("${prefix[@]}" "$PUBLISH" --runs 1 --messages "$PUB_MESSAGES" --udp --backend "$1" 2>&1 | tail -1)
    local pps
    pps=$(echo "$line" | sed -n 's/.* \([0-9]*\) packets\/s.*/\1/p')
    [[ -n "$pps" ]] && echo "$pps" >>"$WORK/pub-$1"
    log "round $round publisher $1: $line"
}

SENDERS=(fr-epoll fr-uring c)
for round in $(seq "$ROUNDS"); do
    for size in $SIZES; do
        for k in 0 1 2; do
            run_one "${SENDERS[$(( (k + round) % 3 ))]}" "$size"
        done
    done
    if [[ "$PUBLISHER" == 1 ]]; then
        for k in 0 1 2; do
            case $(( (k + round) % 3 )) in
                0) run_publisher epoll ;;
                1) run_publisher uring ;;
                2) run_one c 1400 ;;
            esac
        done
    fi
done

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

echo "size  sender     median_pps  vs_c   (rounds: $ROUNDS, $COUNT datagrams, CPU $SENDER_CPU)"
for size in $SIZES; do
    c=$(median "$WORK/c-$size")
    for name in fr-epoll fr-uring c; do
        [[ -f "$WORK/$name-$size" ]] || continue
        m=$(median "$WORK/$name-$size")
        printf "%-5s %-10s %10s  %s   [%s]\n" "$size" "$name" "$m" "$(ratio "$m" "$c")" "$(tr '\n' ' ' <"$WORK/$name-$size")"
    done
done
if [[ "$PUBLISHER" == 1 && -f "$WORK/c-1400" ]]; then
    c=$(median "$WORK/c-1400")
    printf "%-5s %-10s %10s  %s   [%s]\n" 1400 c "$c" 1.000 "$(tr '\n' ' ' <"$WORK/c-1400")"
    for backend in epoll uring; do
        [[ -f "$WORK/pub-$backend" ]] || continue
        m=$(median "$WORK/pub-$backend")
        printf "%-5s %-10s %10s  %s   [%s]  (publisher packets/s, 1400-byte packets)\n" 1400 "pub-$backend" "$m" \
            "$(ratio "$m" "$c")" "$(tr '\n' ' ' <"$WORK/pub-$backend")"
    done
fi
