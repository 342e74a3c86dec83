#!/usr/bin/env bash
# Capture benchmarks, each side by side with its baseline in the same run,
# alternating, ROUNDS rounds, medians and the median of per-round ratios.
#
#   sudo Benchmarks/capture.sh                 # both parts
#   PARTS=pcap ROUNDS=7 Benchmarks/capture.sh   # only listen --pcap vs MoldThroughput
#
# pcap:   `feedreactor listen --pcap FILE --count N` (messages/s from its
#         `msgs_per_s=` line: mmap, decode, Session, ListenConsumer, no --print)
#         on a MESSAGES-message capture written by Examples/MoldCapture (10
#         messages of 8-40 bytes a packet, like MoldThroughput's stream; not
#         committed, written to $WORK) vs Examples/MoldThroughput's in-memory
#         parse + sequence figure (--packets MESSAGES/10 --rounds 1 --runs 1).
# record: `feedreactor record --start-file` vs `feedreactor rx-bench --start-file`
#         on a receive queue tx_blast pre-filled with COUNT datagrams of SIZE bytes
#         (as Benchmarks/compare.sh does; root for SO_RCVBUFFORCE): datagrams/s
#         recorded to a pcap file on $RECORD_DIR vs datagrams/s drained.
set -euo pipefail
ROUNDS=${ROUNDS:-5}
PARTS=${PARTS:-"pcap record"}
MESSAGES=${MESSAGES:-10000000}
COUNT=${COUNT:-1000000}
SIZE=${SIZE:-64}
RCVBUF=${RCVBUF:-1073741823}
GROUP=${GROUP:-239.255.78.1}
PORT_BASE=${PORT_BASE:-48000}
SENDER_CPU=${SENDER_CPU:-0}
RECEIVER_CPU=${RECEIVER_CPU:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
WORK=$(mktemp -d /tmp/feedreactor-capture.XXXXXX)
RECORD_DIR=${RECORD_DIR:-$WORK}
trap 'rm -rf "$WORK"' EXIT
log() { echo "capture: $*" >&2; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

log "building feedreactor, MoldThroughput, MoldCapture (release)"
(cd "$ROOT" && swift build -c release --product feedreactor >/dev/null && swift build -c release --product MoldThroughput >/dev/null \
    && swift build -c release --product MoldCapture >/dev/null)
BIN=$ROOT/.build/release
FR=$BIN/feedreactor

if [[ " $PARTS " == *" pcap "* ]]; then
    CAPTURE=$WORK/mold.pcap
    "$BIN/MoldCapture" -w "$CAPTURE" --messages "$MESSAGES" >&2
    : >"$WORK/pcap.tsv"
    for ((round = 1; round <= ROUNDS; round++)); do
        for which in $( ((round % 2)) && echo "pcap memory" || echo "memory pcap"); do
            if [[ $which == pcap ]]; then
                "$FR" listen --pcap "$CAPTURE" --count "$MESSAGES" 2>"$WORK/listen.err" >/dev/null
                rate=$(sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p' "$WORK/listen.err")
                grep -q "delivered=$MESSAGES " "$WORK/listen.err" || { log "listen --pcap did not deliver $MESSAGES"; tail -2 "$WORK/listen.err" >&2; exit 1; }
            else
                rate=$("$BIN/MoldThroughput" --packets $((MESSAGES / 10)) --rounds 1 --runs 1 | sed -n 's/^median: \([0-9]*\) messages.*/\1/p')
            fi
            log "round $round $which: $rate messages/s"
            printf '%s\t%s\t%s\n' "$round" "$which" "$rate" >>"$WORK/pcap.tsv"
        done
    done
    pcap=$(awk -F'\t' '$2 == "pcap" { print $3 }' "$WORK/pcap.tsv" | median)
    memory=$(awk -F'\t' '$2 == "memory" { print $3 }' "$WORK/pcap.tsv" | median)
    ratio=$(awk -F'\t' '{ r[$1, $2] = $3 } END { for (i = 1; i <= '"$ROUNDS"'; i++) print r[i, "pcap"] / r[i, "memory"] }' "$WORK/pcap.tsv" | median)
    echo "listen --pcap ($MESSAGES messages): median $pcap msgs/s; MoldThroughput in memory: median $memory msgs/s; per-round ratio median $ratio ($ROUNDS rounds)"
fi

if [[ " $PARTS " == *" record "* ]]; then
    [[ $(id -u) -eq 0 ]] || log "not root: the receive queue cannot hold $COUNT datagrams; expect invalid runs"
    mkdir -p "$HERE/c/bin"
    [[ -x $HERE/c/bin/tx_blast ]] || cc -O2 -Wall -o "$HERE/c/bin/tx_blast" "$HERE/c/tx_blast.c"
    : >"$WORK/record.tsv"
    run=0
    for ((round = 1; round <= ROUNDS; round++)); do
        for which in $( ((round % 2)) && echo "record drain" || echo "drain record"); do
            run=$((run + 1))
            port=$((PORT_BASE + run))
            start=$WORK/start.$run
            if [[ $which == record ]]; then
                taskset -c "$RECEIVER_CPU" "$FR" record --group "$GROUP" --port "$port" --interface 127.0.0.1 \
                    -w "$RECORD_DIR/record.$run.pcap" --count $((COUNT + 8)) --timeout 120 --rcvbuf "$RCVBUF" \
                    --start-file "$start" >/dev/null 2>"$WORK/err.$run" &
            else
                taskset -c "$RECEIVER_CPU" "$FR" rx-bench --address "$GROUP" --port "$port" --interface 127.0.0.1 \
                    --rcvbuf "$RCVBUF" --start-file "$start" >"$WORK/out.$run" 2>"$WORK/err.$run" &
            fi
            pid=$!
            until grep -q '^ready' "$WORK/err.$run" 2>/dev/null; do sleep 0.05; done
            status=0
            taskset -c "$SENDER_CPU" "$HERE/c/bin/tx_blast" --address "$GROUP" --port "$port" --interface 127.0.0.1 \
                --count "$COUNT" --size "$SIZE" 2>"$WORK/tx.$run" || status=$?
            touch "$start"
            wait "$pid" || true
            if [[ $status -ne 0 ]]; then log "round $round $which: sender saw drops, run invalid: $(cat "$WORK/tx.$run")"; continue; fi
            if [[ $which == record ]]; then
                rate=$(sed -n 's/.*dps=\([0-9]*\).*/\1/p' "$WORK/err.$run" | tail -1)
                grep -q "recorded=$((COUNT + 8)) " "$WORK/err.$run" || { log "record incomplete: $(tail -1 "$WORK/err.$run")"; continue; }
                rm -f "$RECORD_DIR/record.$run.pcap"
            else
                rate=$(sed -n 's/^pps=\([0-9]*\).*/\1/p' "$WORK/out.$run")
            fi
            log "round $round $which: $rate datagrams/s"
            printf '%s\t%s\t%s\n' "$round" "$which" "$rate" >>"$WORK/record.tsv"
        done
    done
    record=$(awk -F'\t' '$2 == "record" { print $3 }' "$WORK/record.tsv" | median)
    drain=$(awk -F'\t' '$2 == "drain" { print $3 }' "$WORK/record.tsv" | median)
    ratio=$(awk -F'\t' '{ r[$1, $2] = $3 } END { for (k in r) { split(k, p, SUBSEP); if (p[2] == "record" && (p[1], "drain") in r) print r[k] / r[p[1], "drain"] } }' "$WORK/record.tsv" | median)
    echo "record ($COUNT x ${SIZE}B, pre-filled queue): median $record datagrams/s; rx-bench drain: median $drain datagrams/s; per-round ratio median $ratio"
fi
