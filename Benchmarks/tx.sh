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
# (the starting one rotates per round). c-uring (c/tx_uring.c, with
# C_URING=1, the default) is hand-written C on io_uring: one SEND SQE per
# datagram, 64 linked per submit, a registered file, as the reactor's io_uring
# backend sends; the uring rows are also given against it (io_uring has no
# multi-datagram send, so it shows what io_uring itself costs against
# sendmmsg). c-store (with PUBLISHER=1) is c/tx_sendmmsg.c with --store 1: per
# datagram it also copies a message into the datagram and into a 64 MiB
# retransmission ring, the least a publisher that keeps its messages does; the
# publisher rows are also given against it. c-uring-unlinked is the same with its SQEs not linked: not a
# baseline (a send that meets a full buffer is then overtaken by the next), it
# shows what keeping the order with links costs. With PUBLISHER=1 the round also runs
# the PublishThroughput example at each size too (--udp, one message filling
# each packet, through each backend; on epoll with --coalesce unless
# PUB_COALESCE=0), as the publisher rows, against C at the same size.
#
# What is measured is the sender: every sender aims at one UDP socket that is
# bound and never read (an rx-bench waiting for a start file that never
# appears), so the receive queue fills once and the kernel then drops each
# datagram at the socket, the same work for every sender. (A port with nobody
# bound would add ICMP errors; a draining receiver would add its own CPU.) The
# loopback delivery up to that drop runs on the sender's CPU in softirq, alike
# for all; the differences are the senders' own.
#
# Old against new in the same run: OLD_FEEDREACTOR=/path/feedreactor and/or
# OLD_PUBLISH=/path/PublishThroughput add the senders old-epoll, old-uring and
# old-pub-epoll, old-pub-uring (an older build of the same commands).
#
# Knobs: ROUNDS COUNT SIZES SENDER_CPU PORT C_URING=0|1 PUBLISHER=0|1 PUB_COALESCE=0|1 RT=0|1 SKIP_BUILD=1
#        OLD_FEEDREACTOR OLD_PUBLISH
set -euo pipefail

ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-1000000}
SIZES=${SIZES:-"64 512"}
SENDER_CPU=${SENDER_CPU:-1}
PORT=${PORT:-47900}
PUBLISHER=${PUBLISHER:-1}
C_URING=${C_URING:-1}
PUB_COALESCE=${PUB_COALESCE:-1}
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
if [[ "$C_URING" == 1 ]] && [[ ! -x "$BIN/tx_uring" || "$HERE/c/tx_uring.c" -nt "$BIN/tx_uring" || "$HERE/c/bench_common.h" -nt "$BIN/tx_uring" ]]; then
    cc -O2 -Wall -o "$BIN/tx_uring" "$HERE/c/tx_uring.c" -luring
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
        old-epoll) echo "$OLD_FEEDREACTOR tx-bench --backend epoll ${common[*]}" ;;
        old-uring) echo "$OLD_FEEDREACTOR tx-bench --backend uring ${common[*]}" ;;
        c)        echo "$BIN/tx_sendmmsg ${common[*]}" ;;
        c-store)  echo "$BIN/tx_sendmmsg --store 1 ${common[*]}" ;;
        c-uring)  echo "$BIN/tx_uring ${common[*]}" ;;
        c-uring-unlinked) echo "$BIN/tx_uring --link 0 ${common[*]}" ;;
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

run_publisher() {  # backend size [binary name] -> appends packets/s to $WORK/<name>-<backend>-<size>
    # One message a packet, filling it: the 20-byte header and a 2-byte length.
    local line extra=() binary=${3:-$PUBLISH} name=${4:-pub}
    [[ "$1" == epoll && "$PUB_COALESCE" == 1 ]] && extra=(--coalesce)
    line=$("${prefix[@]}" "$binary" --runs 1 --messages "$COUNT" --message-size $(( $2 - 22 )) --packet-size "$2" \
        --udp --backend "$1" "${extra[@]}" 2>&1 | tail -1)
    local pps
    pps=$(echo "$line" | sed -n 's/.* \([0-9]*\) packets\/s.*/\1/p')
    [[ -n "$pps" ]] && echo "$pps" >>"$WORK/$name-$1-$2"
    log "round $round $name $1 size $2: $line"
}

SENDERS=(fr-epoll fr-uring c)
[[ "$C_URING" == 1 ]] && SENDERS+=(c-uring c-uring-unlinked)
[[ "$PUBLISHER" == 1 ]] && SENDERS+=(c-store pub-epoll pub-uring)
[[ -n "${OLD_FEEDREACTOR:-}" ]] && SENDERS+=(old-epoll old-uring)
[[ "$PUBLISHER" == 1 && -n "${OLD_PUBLISH:-}" ]] && SENDERS+=(old-pub-epoll old-pub-uring)
N=${#SENDERS[@]}
for round in $(seq "$ROUNDS"); do
    for size in $SIZES; do
        for k in $(seq 0 $(( N - 1 ))); do
            name=${SENDERS[$(( (k + round) % N ))]}
            case $name in
                pub-*) run_publisher "${name#pub-}" "$size" ;;
                old-pub-*) run_publisher "${name#old-pub-}" "$size" "$OLD_PUBLISH" old-pub ;;
                *) run_one "$name" "$size" ;;
            esac
            # Every sender's figure of this round, in round order, for per-round ratios.
            f="$WORK/$name-$size"; [[ -f "$f" ]] && [[ $(wc -l <"$f") -lt $round ]] && echo 0 >>"$f"
        done
    done
done

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

# vs_c: ratio of the medians; round_ratio: median of the per-round ratios
# (each sender against C in the same round; what to read on a noisy machine).
round_ratio() {  # file cfile
    paste "$1" "$2" | awk '$2 > 0 && $1 > 0 { print $1 / $2 }' | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo "size  sender     median_pps  vs_c   round_ratio  (rounds: $ROUNDS, $COUNT datagrams, CPU $SENDER_CPU)"
for size in $SIZES; do
    c=$(median "$WORK/c-$size")
    for name in "${SENDERS[@]}"; do
        [[ -f "$WORK/$name-$size" ]] || continue
        m=$(median "$WORK/$name-$size")
        printf "%-5s %-13s %10s  %s   %s   [%s]\n" "$size" "$name" "$m" "$(ratio "$m" "$c")" \
            "$(round_ratio "$WORK/$name-$size" "$WORK/c-$size")" "$(tr '\n' ' ' <"$WORK/$name-$size")"
    done
done
# against BASELINE TITLE GLOB: the senders named GLOB (not the baseline's own
# rows) against a second baseline, ratio of medians and per-round.
against() {
    echo "$2"
    for size in $SIZES; do
        local base; base=$(median "$WORK/$1-$size")
        for name in "${SENDERS[@]}"; do
            [[ "$name" == $3 && "$name" != "$1"* && -f "$WORK/$name-$size" ]] || continue
            printf "%-5s %-13s vs_%s %s   round_ratio %s\n" "$size" "$name" "${1//-/_}" \
                "$(ratio "$(median "$WORK/$name-$size")" "$base")" "$(round_ratio "$WORK/$name-$size" "$WORK/$1-$size")"
        done
    done
}
if [[ "$PUBLISHER" == 1 ]]; then
    against c-store "publishers against C sendmmsg that also keeps each message (c-store):" '*pub-*'
fi
if [[ "$C_URING" == 1 ]]; then
    against c-uring "io_uring senders against hand-written C on io_uring (c-uring):" '*uring*'
fi
