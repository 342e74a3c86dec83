#!/usr/bin/env bash
# Receive throughput of FeedReactor against plain C and SwiftNIO, by draining.
#
#   sudo ./compare.sh                       # 5 rounds, 1,000,000 datagrams of 64 and 512 bytes
#   ROUNDS=7 SIZES=64 MODES=unicast ./compare.sh
#
# A live blast over loopback measures the sender (its CPU runs the kernel's whole
# loopback path), so each receiver is measured on a queue filled beforehand: it
# binds (and joins) with --start-file, says `ready` on stderr, tx_blast queues
# COUNT datagrams into its receive buffer (raised with SO_RCVBUFFORCE, root
# only), then the start file appears and the receiver drains, printing
# `pps=<n> received=<n> gaps=<n>`. The sender runs on CPU $SENDER_CPU, receivers
# on CPU $RECEIVER_CPU. Receivers alternate within each round (the starting one
# rotates per round) so a machine busy with other work disturbs them alike.
#
# Knobs (environment): ROUNDS COUNT SIZES MODES RCVBUF GROUP_PREFIX PORT_BASE
# SENDER_CPU RECEIVER_CPU TIMEOUT IDLE=block|spin RT=0|1 SKIP_BUILD=1
# RECEIVERS="fr-epoll fr-uring c-epoll c-uring nio" (other names: RECEIVER_<name>, below)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-1000000}
SIZES=${SIZES:-"64 512"}
MODES=${MODES:-"unicast multicast"}
# The kernel doubles the request and caps it at INT_MAX/2 (net/core/sock.c):
# ~2 GiB of buffer, enough for 1,000,000 queued 512-byte datagrams (~1.3 GB).
RCVBUF=${RCVBUF:-1073741823}
GROUP_PREFIX=${GROUP_PREFIX:-239.255.77}
PORT_BASE=${PORT_BASE:-47000}
SENDER_CPU=${SENDER_CPU:-0}
RECEIVER_CPU=${RECEIVER_CPU:-1}
TIMEOUT=${TIMEOUT:-120}
RECEIVERS=${RECEIVERS:-"fr-epoll fr-uring c-epoll c-uring nio"}
IDLE=${IDLE:-block}   # passed to every receiver as --idle (NIO always blocks)
# RT=1 runs receivers SCHED_FIFO (chrt -f 10): on a machine busy with other
# work the drain then measures the receiver, not the scheduler. A receiver
# sleeps until its start file appears and drains for a second or two.
RT=${RT:-0}

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BIN="$HERE/c/bin"
WORK=$(mktemp -d /tmp/feedreactor-compare.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

log() { echo "compare: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    log "not root: SO_RCVBUFFORCE is refused, the receive buffer stays at net.core.rmem_max and"
    log "the queue cannot hold $COUNT datagrams; every run will report drops. Run with sudo."
fi

# ---------------------------------------------------------------- build
mkdir -p "$BIN"
build_c() {  # name [libs...]
    local name=$1; shift
    [[ -f "$HERE/c/$name.c" ]] || return 1
    if [[ ! -x "$BIN/$name" || "$HERE/c/$name.c" -nt "$BIN/$name" || "$HERE/c/bench_common.h" -nt "$BIN/$name" ]]; then
        cc -O2 -Wall -o "$BIN/$name" "$HERE/c/$name.c" "$@"
    fi
}
build_c tx_blast
build_c rx_epoll
HAVE_C_URING=0
if build_c rx_uring -luring 2>"$WORK/rx_uring.build"; then HAVE_C_URING=1
elif [[ -f "$HERE/c/rx_uring.c" ]]; then log "c/rx_uring.c does not build: $(head -3 "$WORK/rx_uring.build")"; fi

if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building NIOReceiver and feedreactor (release)"
    (cd "$HERE" && swift build -c release --product NIOReceiver >"$WORK/nio.build" 2>&1) \
        || { log "NIOReceiver does not build:"; tail -5 "$WORK/nio.build" >&2; }
    (cd "$ROOT" && swift build -c release --product feedreactor >"$WORK/fr.build" 2>&1) \
        || { log "feedreactor does not build:"; tail -5 "$WORK/fr.build" >&2; }
fi
NIO="$HERE/.build/release/NIOReceiver"
FEEDREACTOR="$ROOT/.build/release/feedreactor"

# The command of each receiver (without the common arguments), or nothing when
# it is not available here.
receiver_command() {
    case $1 in
        fr-epoll) [[ -x $FEEDREACTOR ]] && "$FEEDREACTOR" rx-bench --help >/dev/null 2>&1 \
                    && echo "$FEEDREACTOR rx-bench --backend epoll" ;;
        fr-uring) [[ -x $FEEDREACTOR ]] && "$FEEDREACTOR" rx-bench --help >/dev/null 2>&1 \
                    && echo "$FEEDREACTOR rx-bench --backend uring" ;;
        c-epoll)  [[ -x $BIN/rx_epoll ]] && echo "$BIN/rx_epoll" ;;
        c-uring)  [[ $HAVE_C_URING == 1 ]] && echo "$BIN/rx_uring" ;;
        nio)      [[ -x $NIO ]] && echo "$NIO" ;;
        # Any other name: the command in RECEIVER_<name with - as _>, e.g.
        # RECEIVERS="c-epoll fr-old" RECEIVER_fr_old="/tmp/old/feedreactor rx-bench".
        # A name starting fr- is counted as FeedReactor in the ratio table.
        *)        local variable="RECEIVER_${1//-/_}"; [[ -n ${!variable:-} ]] && echo "${!variable}" ;;
    esac
}

declare -A COMMAND=()
ACTIVE=()
for name in $RECEIVERS; do
    if command=$(receiver_command "$name") && [[ -n $command ]]; then
        COMMAND[$name]=$command
        ACTIVE+=("$name")
    else
        log "skipping $name: not built or not available"
    fi
done
(( ${#ACTIVE[@]} > 0 )) || { log "no receiver available"; exit 1; }

# ---------------------------------------------------------------- one run
RAW="$WORK/raw.tsv"       # round mode size receiver pps (valid runs only)
NOTES="$WORK/notes.txt"   # invalid runs and skipped receivers
: >"$RAW"; : >"$NOTES"
declare -A UNAVAILABLE=()    # "receiver mode" -> why it is skipped
RUN=0

# Runs receiver $1 on mode $2 with datagrams of $3 bytes; appends to $RAW.
run_one() {
    local name=$1 mode=$2 size=$3 round=$4
    RUN=$((RUN + 1))
    local port=$((PORT_BASE + RUN % 10000))
    local address=127.0.0.1 interface=()
    if [[ $mode == multicast ]]; then
        address="$GROUP_PREFIX.$((RUN % 250 + 1))"
        interface=(--interface 127.0.0.1)
    fi
    local start="$WORK/start.$RUN" out="$WORK/out.$RUN" err="$WORK/err.$RUN" tx="$WORK/tx.$RUN"
    # shellcheck disable=SC2086  # the command is words on purpose
    local priority=()
    [[ $RT == 1 ]] && priority=(chrt -f 10)
    timeout "$TIMEOUT" "${priority[@]}" taskset -c "$RECEIVER_CPU" ${COMMAND[$name]} --address "$address" --port "$port" \
        "${interface[@]}" --rcvbuf "$RCVBUF" --idle "$IDLE" --start-file "$start" >"$out" 2>"$err" &
    local pid=$!
    local waited=0
    until grep -q '^ready' "$err" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null || (( waited > 200 )); then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            UNAVAILABLE[$name/$mode]="never said ready: $(tr '\n' ' ' <"$err" | cut -c1-200)"
            log "$name $mode: ${UNAVAILABLE[$name/$mode]}"
            return
        fi
        sleep 0.05
        waited=$((waited + 1))
    done
    local tx_status=0
    taskset -c "$SENDER_CPU" "$BIN/tx_blast" --address "$address" --port "$port" "${interface[@]}" \
        --count "$COUNT" --size "$size" 2>"$tx" || tx_status=$?
    touch "$start"
    # A sender that saw drops may have lost the end markers too: do not wait
    # out the timeout for a run that is invalid anyway.
    [[ $tx_status -ne 0 ]] && kill "$pid" 2>/dev/null
    local status=0
    wait "$pid" || status=$?
    local line
    line=$(grep -m1 '^pps=' "$out" || true)
    local pps received gaps
    pps=$(sed -n 's/.*pps=\([0-9]*\).*/\1/p' <<<"$line")
    received=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' <<<"$line")
    gaps=$(sed -n 's/.*gaps=\([0-9]*\).*/\1/p' <<<"$line")
    if [[ $tx_status -ne 0 ]]; then
        echo "round $round $mode $size $name: sender reported drops: $(tr '\n' ' ' <"$tx")" >>"$NOTES"
    elif [[ $status -ne 0 || -z $pps ]]; then
        echo "round $round $mode $size $name: failed (exit $status): $(tr '\n' ' ' <"$err" | cut -c1-200)" >>"$NOTES"
    elif [[ $received != "$COUNT" || $gaps != 0 ]]; then
        echo "round $round $mode $size $name: incomplete: $line" >>"$NOTES"
    else
        printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$size" "$name" "$pps" >>"$RAW"
    fi
    log "round $round $mode ${size}B $name: ${line:-no result}"
}

# ---------------------------------------------------------------- rounds
LOAD_BEFORE=$(uptime)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for ((round = 1; round <= ROUNDS; round++)); do
    for mode in $MODES; do
        for size in $SIZES; do
            n=${#ACTIVE[@]}
            for ((i = 0; i < n; i++)); do
                name=${ACTIVE[$(((i + round) % n))]}
                [[ -n ${UNAVAILABLE[$name/$mode]:-} ]] && continue
                run_one "$name" "$mode" "$size" "$round"
            done
        done
    done
done
LOAD_AFTER=$(uptime)

# ---------------------------------------------------------------- report
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
median_of() {  # mode size receiver
    awk -F'\t' -v m="$1" -v s="$2" -v r="$3" '$2 == m && $3 == s && $4 == r { print $5 }' "$RAW" | median
}
runs_of() {
    awk -F'\t' -v m="$1" -v s="$2" -v r="$3" '$2 == m && $3 == s && $4 == r' "$RAW" | wc -l
}
# Median over rounds of receiver $3's pps / receiver $4's pps in the same round:
# neighbours in time share the machine's load, so this drifts less than the
# ratio of medians when other work comes and goes.
paired_ratio() {  # mode size receiver baseline
    awk -F'\t' -v m="$1" -v s="$2" -v a="$3" -v b="$4" '
        $2 == m && $3 == s && $4 == a { x[$1] = $5 }
        $2 == m && $3 == s && $4 == b { y[$1] = $5 }
        END { for (r in x) if ((r in y) && y[r] > 0) print x[r] / y[r] }' "$RAW" | median |
        awk '{ if ($1 != "") printf "%.2f", $1 }'
}
ratio() { [[ -n $1 && -n $2 && $2 != 0 ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }
mpps() { [[ -n $1 ]] && awk -v v="$1" 'BEGIN { printf "%.3f", v / 1e6 }' || echo "-"; }

REPORT="$WORK/report.md"
{
    echo "# Receive drain throughput, $STARTED"
    echo
    echo "$COUNT datagrams queued, then drained; median of $ROUNDS rounds (runs per cell in parentheses)."
    echo "Sender: tx_blast on CPU $SENDER_CPU; receivers on CPU $RECEIVER_CPU, --idle $IDLE$([[ $RT == 1 ]] && echo ", SCHED_FIFO"); rcvbuf request $RCVBUF."
    echo "Kernel $(uname -r), $(nproc) CPUs."
    echo "Load before: $LOAD_BEFORE"
    echo "Load after:  $LOAD_AFTER"
    echo
    echo "## Median M datagrams/s"
    echo
    header="| mode | size |"; rule="|---|---|"
    for name in "${ACTIVE[@]}"; do header+=" $name |"; rule+="---|"; done
    echo "$header"; echo "$rule"
    for mode in $MODES; do
        for size in $SIZES; do
            row="| $mode | $size |"
            for name in "${ACTIVE[@]}"; do
                row+=" $(mpps "$(median_of "$mode" "$size" "$name")") ($(runs_of "$mode" "$size" "$name")) |"
            done
            echo "$row"
        done
    done
    echo
    echo "## Ratios (FeedReactor / baseline)"
    echo
    echo "Each cell: ratio of the medians above, then in brackets the median of the per-round ratios."
    echo
    BASELINES=()
    for name in "${ACTIVE[@]}"; do [[ $name == fr-* ]] || BASELINES+=("$name"); done
    header="| mode | size | receiver |"; rule="|---|---|---|"
    for base in "${BASELINES[@]}"; do header+=" vs $base |"; rule+="---|"; done
    echo "$header"; echo "$rule"
    for mode in $MODES; do
        for size in $SIZES; do
            for name in "${ACTIVE[@]}"; do
                [[ $name == fr-* ]] || continue
                own=$(median_of "$mode" "$size" "$name")
                [[ -n $own ]] || continue
                row="| $mode | $size | $name |"
                for base in "${BASELINES[@]}"; do
                    row+=" $(ratio "$own" "$(median_of "$mode" "$size" "$base")") [$(paired_ratio "$mode" "$size" "$name" "$base")] |"
                done
                echo "$row"
            done
        done
    done
    if [[ " ${ACTIVE[*]} " == *" nio "* && " ${ACTIVE[*]} " == *" c-epoll "* ]]; then
        echo
        echo "| mode | size | c-epoll / nio |"
        echo "|---|---|---|"
        for mode in $MODES; do
            for size in $SIZES; do
                echo "| $mode | $size | $(ratio "$(median_of "$mode" "$size" c-epoll)" "$(median_of "$mode" "$size" nio)") [$(paired_ratio "$mode" "$size" c-epoll nio)] |"
            done
        done
    fi
    if [[ -s $NOTES || ${#UNAVAILABLE[@]} -gt 0 ]]; then
        echo
        echo "## Left out"
        echo
        for name in "${!UNAVAILABLE[@]}"; do echo "- $name: ${UNAVAILABLE[$name]}"; done
        sed 's/^/- /' "$NOTES"
    fi
    echo
    echo "## Raw (round, mode, size, receiver, pps)"
    echo
    echo '```'
    cat "$RAW"
    echo '```'
} >"$REPORT"

mkdir -p "$ROOT/results"
OUTPUT="$ROOT/results/compare-$(date -u +%Y%m%dT%H%M%SZ).md"
cp "$REPORT" "$OUTPUT"
cat "$REPORT"
log "written to $OUTPUT"
