#!/usr/bin/env bash
# SoupBinTCP replay throughput over loopback against raw TCP bulk throughput in
# the same run, alternating within each round; medians of ROUNDS runs and ratios.
#
#   ./soup.sh                          # ROUNDS=5 MESSAGES=10000000 SIZE=32
#   SKIP_BUILD=1 ROUNDS=7 ./soup.sh
#   SKIP_BUILD=1 RECOVERY_ONLY=1 ./soup.sh   # only the soup-recovery-bench rows
#
# Rows:
#   soup: `feedreactor soup-bench`: a session of MESSAGES messages of SIZE bytes
#         held in a RetransmissionStore (server thread, CPU 1) replayed to a
#         SoupBinTCP client (CPU 0) from login to End of Session: msgs_per_s, and
#         gbps of wire bytes (3 bytes of framing per message included).
#   raw:  `feedreactor tcp-bench source` (CPU 0) into `tcp-bench sink` (CPU 1),
#         the same number of wire bytes: gbps.
#   ratio: soup gbps / raw gbps, per round, then the median.
# Also: the recovery of a gap of about 100,000 messages (3,000 packets of about 33 messages
# lost in a row, no random loss) by `feedreactor demo` over UDP re-requests and
# over TCP: seconds for the whole 400,000-message run at 100,000 msgs/s, and the
# p99 publish-to-delivery latency (the gap's messages are the late ones).
# And the recovery time alone: `feedreactor soup-recovery-bench --gap GAP` (GAP=100000
# messages of SIZE bytes in one store behind a RetransmissionServer and a SoupTCPServer):
# seconds from the live packet revealing the gap to the session's next expected sequence
# passing its end, over TCP and over UDP re-requests alternating in each round; ratio
# udp seconds / tcp seconds per round, then the median.
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-5}
MESSAGES=${MESSAGES:-10000000}
SIZE=${SIZE:-32}
GAP=${GAP:-100000}
PORT=${PORT:-47600}
if [ -z "${SKIP_BUILD:-}" ]; then
  (cd .. && swift build -c release --product feedreactor >/dev/null)
fi
FR=../.build/release/feedreactor
raw=$(mktemp)
BYTES=$((MESSAGES * (SIZE + 3)))

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { tr ' ' '\n' | grep "^$1=" | cut -d= -f2; }

if [ -z "${RECOVERY_ONLY:-}" ]; then
for round in $(seq 1 "$ROUNDS"); do
  soup=$("$FR" soup-bench --messages "$MESSAGES" --size "$SIZE" --server-cpu 1 --client-cpu 0)
  echo "round $round soup $soup" | tee -a "$raw" >&2
  PORT=$((PORT + 1))
  taskset -c 1 "$FR" tcp-bench sink --listen 127.0.0.1:$PORT >"$raw.sink" 2>"$raw.sinkerr" &
  sink=$!
  for _ in $(seq 1 500); do grep -q ready "$raw.sinkerr" 2>/dev/null && break; sleep 0.01; done
  taskset -c 0 "$FR" tcp-bench source --connect 127.0.0.1:$PORT --bytes "$BYTES" >/dev/null
  wait "$sink" || true
  rawline=$(cat "$raw.sink")
  echo "round $round raw $rawline" | tee -a "$raw" >&2
  sg=$(echo "$soup" | field gbps); rg=$(echo "$rawline" | field gbps)
  echo "round $round ratio $(awk -v a="$sg" -v b="$rg" 'BEGIN {printf "%.3f", a / b}')" | tee -a "$raw" >&2
done
for recovery in udp tcp; do
  for round in $(seq 1 "$ROUNDS"); do
    out=$("$FR" demo --recovery "$recovery" --messages 400000 --rate 100000 --loss 0 --burst-packets 3000 --quiet 2>/dev/null)
    seconds=$(echo "$out" | grep '  rate ' | sed 's/.* over \([0-9.]*\) s/\1/')
    p99=$(echo "$out" | grep '  latency ' | sed 's/.*p99 \([0-9.]*\) us.*/\1/')
    echo "round $round gap100k_$recovery seconds=$seconds p99_us=$p99" | tee -a "$raw" >&2
  done
done
fi
for round in $(seq 1 "$ROUNDS"); do
  tcp=$("$FR" soup-recovery-bench --path tcp --gap "$GAP" --size "$SIZE" 2>/dev/null)
  udp=$("$FR" soup-recovery-bench --path udp --gap "$GAP" --size "$SIZE" 2>/dev/null)
  echo "round $round recovery $tcp" | tee -a "$raw" >&2
  echo "round $round recovery $udp" | tee -a "$raw" >&2
  ts=$(echo "$tcp" | field seconds); us=$(echo "$udp" | field seconds)
  echo "round $round recovery_ratio $(awk -v a="$us" -v b="$ts" 'BEGIN {printf "%.3f", a / b}')" | tee -a "$raw" >&2
done
if [ -z "${RECOVERY_ONLY:-}" ]; then
echo "medians of $ROUNDS rounds ($MESSAGES messages of $SIZE bytes):"
echo "  soup msgs_per_s  $(grep ' soup ' "$raw" | sed 's/.* soup //' | field msgs_per_s | median)"
echo "  soup gbps        $(grep ' soup ' "$raw" | sed 's/.* soup //' | field gbps | median)"
echo "  raw tcp gbps     $(grep ' raw ' "$raw" | sed 's/.* raw //' | field gbps | median)"
echo "  ratio soup/raw   $(grep ' ratio ' "$raw" | awk '{print $4}' | median)"
for recovery in udp tcp; do
  echo "  100k gap over $recovery: seconds $(grep "gap100k_$recovery" "$raw" | field seconds | median), p99_us $(grep "gap100k_$recovery" "$raw" | field p99_us | median)"
done
fi
echo "medians of $ROUNDS rounds (recovery of $GAP messages of $SIZE bytes):"
for recovery in tcp udp; do
  echo "  recovery of a $GAP-message gap over $recovery: seconds $(grep "recovery path=$recovery" "$raw" | field seconds | median)"
done
echo "  ratio udp/tcp recovery time $(grep ' recovery_ratio ' "$raw" | awk '{print $4}' | median)"
rm -f "$raw" "$raw".*
