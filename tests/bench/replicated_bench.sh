#!/usr/bin/env bash
# replicated_bench.sh - Quorum's replicated commit path (5 processes: a key's
# writer and its four followers) against the anchor, a 5-member etcd
# (/work/shared/bench/etcd5.sh), level by level in the same minutes.
#
#   tests/bench/replicated_bench.sh [QUORUMD]   # default build/release/host/quorumd
#
# Builds nothing: needs QUORUMD and, in its build dir, tests/bench/loadgen_bench
# (or LOADGEN=...) and plugins/ (or PLUGINS=...); python3 and curl. Starts the
# five-node cluster of cluster5.sh (4 DCs: FL-A-1, FL-B-1, TN-A-1, TX-A-1,
# UT-A-1; every key's replica set is those five), and loads FL-A-1 with keys
# it writes (loadgen_bench --topology --writer FL-A-1: home rule lg -> FL).
# Ballots are ~200-byte CVR JSON commands, etcd5.sh's VAL_SIZE=200. For each
# client concurrency C of CONCURRENCY:
#   1. Quorum, closed loop, C connections, one command per request
#      (POST /v1/actors/{key}/commands), like etcd's puts;
#   2. etcd: CONCURRENCY=C etcd5.sh (a fresh 5-member cluster; CHECK_PERF
#      skipped), its SUMMARY line (median over REPEATS);
#   3. Quorum, open loop at etcd's achieved rate: p99 at the same offered load
#      (latency counted from each request's due time, so queueing shows), over
#      max(2 C, OPEN_MIN_CONNECTIONS) connections: a connection carries one
#      request at a time, so with C connections at the rate C closed-loop
#      clients reached, every connection is busy nearly all the time and a
#      request due while all are busy waits in the client (measured: p50 of
#      0.4-0.6 s at 16 connections, a queue of the load generator's making,
#      which etcd's closed-loop client does not have: it waits instead of
#      sending). Twice the connections leave room without changing the rate.
# Then Quorum batched (NDJSON, BATCH per request, CONN_BATCH connections,
# closed loop), the way ingest uses it. Prints a table with the ratios.
# Every key is touched once before the first measurement (a node acquires a
# key on its first request, asking the other nodes: not the steady state).
# Until replication is wired into quorumd a key lives on its writer only: the
# figures then measure the unreplicated path (the followers idle).
# Stops exactly the processes it started (quorumd x5; etcd5.sh stops its own).
# Knobs (environment): LOADGEN, PLUGINS, QUORUMD_CONFIG, CONCURRENCY="1 16 64 256",
#   REPEATS=1 (per level, both systems), DURATION=10, WARMUP=2, KEYS=1000,
#   BATCH=1000, CONN_BATCH=8, OPEN_MIN_CONNECTIONS=64, WRITER=FL-A-1, ANCHOR=1 (0: Quorum only),
#   ETCD5=/work/shared/bench/etcd5.sh, CLIENT (etcd5.sh's client: auto|go|python).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QUORUMD=${1:-${QUORUMD:-$ROOT/build/release/host/quorumd}}
BUILD=$(cd "$(dirname "$QUORUMD")/.." && pwd)
LOADGEN=${LOADGEN:-$BUILD/tests/bench/loadgen_bench}
PLUGINS=${PLUGINS:-$BUILD/plugins}
CONCURRENCY=${CONCURRENCY:-"1 16 64 256"}
REPEATS=${REPEATS:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
KEYS=${KEYS:-1000}
BATCH=${BATCH:-1000}
CONN_BATCH=${CONN_BATCH:-8}
OPEN_MIN_CONNECTIONS=${OPEN_MIN_CONNECTIONS:-64}
WRITER=${WRITER:-FL-A-1}
ANCHOR=${ANCHOR:-1}
ETCD5=${ETCD5:-/work/shared/bench/etcd5.sh}
CLIENT=${CLIENT:-auto}

for f in "$QUORUMD" "$LOADGEN"; do
  [ -x "$f" ] || { echo "not executable: $f (build quorumd and loadgen_bench first)" >&2; exit 1; }
done
[ -d "$PLUGINS" ] || { echo "no plugin dir $PLUGINS" >&2; exit 1; }
command -v python3 >/dev/null && command -v curl >/dev/null || { echo "need python3 and curl" >&2; exit 1; }
if [ "$ANCHOR" = 1 ] && [ ! -x "$ETCD5" ]; then
  echo "no anchor script $ETCD5 (ANCHOR=0 runs Quorum only)" >&2; exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/quorum-replicated-bench.XXXXXX")
# shellcheck source=cluster5.sh
. "$HERE/cluster5.sh"
cleanup() {
  cluster5_stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "# $*"; }
field() { awk -v k="$1" '{for (i = 1; i <= NF; i++) {n = index($i, "="); if (n && substr($i, 1, n - 1) == k) v = substr($i, n + 1)}} END {print v}'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
loadgen() {  # args...: one run; prints its RESULT line
  "$LOADGEN" --node "$(cluster5_url "$WRITER")" --topology "$WORK/topology.json" --writer "$WRITER" \
    --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" "$@" 2>&1 | tee -a "$WORK/loadgen.log" | grep '^RESULT'
}
# REPEATS runs of loadgen: prints each RESULT line, sets RUN_RATE RUN_P50 RUN_P99 (medians).
quorum_runs() {
  local r out rates="" p50s="" p99s=""
  for ((r = 1; r <= REPEATS; r++)); do
    out=$(loadgen "$@")
    echo "$out"
    rates+=" $(echo "$out" | field 'acked/s')"; p50s+=" $(echo "$out" | field p50_ms)"; p99s+=" $(echo "$out" | field p99_ms)"
  done
  RUN_RATE=$(echo "$rates" | median); RUN_P50=$(echo "$p50s" | median); RUN_P99=$(echo "$p99s" | median)
}

echo "== quorum replicated-commit benchmark: $(date -u +%FT%TZ), $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "quorumd: $QUORUMD; loadgen: $LOADGEN; plugins: $PLUGINS; data: $WORK ($(df -PT "$WORK" | awk 'NR==2{print $2}'))"
cluster5_init
cluster5_start "${CLUSTER5_NODES[@]}" || exit 1
log "5 quorumd processes, embedded topology (4 DCs: FL-A-1 FL-B-1 | TN-A-1 | TX-A-1 | UT-A-1; home rule lg -> FL)"
log "load: $KEYS keys written by $WRITER ($(cluster5_url "$WRITER")), ~200-byte ballot per command, unique ids;" \
  "warmup ${WARMUP}s, measured ${DURATION}s, $REPEATS run(s) per level; loadgen on the same CPUs as the cluster"

# One pass over every key of both prefixes (batches of up to 1,000 commands).
for prefix in lg/single/ lg/batch/; do
  prime=$(( KEYS < 1000 ? KEYS : 1000 ))
  # One request every 2 s, each with 2-4 s to be answered before loadgen stops.
  "$LOADGEN" --node "$(cluster5_url "$WRITER")" --topology "$WORK/topology.json" --writer "$WRITER" --keys "$KEYS" \
    --batch "$prime" --connections 1 --rate "$(awk -v p="$prime" 'BEGIN{print p / 2}')" \
    --duration "$(( 2 * ((KEYS + prime - 1) / prime) ))" --warmup 0 --prefix "$prefix" >>"$WORK/prime.log" 2>&1
done
PRIMED=$(grep -h '^RESULT' "$WORK/prime.log" | awk '{for (i = 1; i <= NF; i++) {if ($i ~ /^errors=/) e += substr($i, 8); if ($i ~ /^acked\/s=/) a += substr($i, 9)}} END {print a + 0, e + 0}')
log "primed: every key touched once on $WRITER (acked/s, errors of the priming runs: $PRIMED)"

declare -A Q_RATE Q_P50 Q_P99 E_RATE E_P50 E_P99 O_RATE O_P50 O_P99
ANCHOR_SUMMARY=""
for c in $CONCURRENCY; do
  echo "== $c client(s): Quorum closed loop, single commands (--batch 1 --connections $c)"
  quorum_runs --batch 1 --connections "$c" --prefix lg/single/
  Q_RATE[$c]=$RUN_RATE; Q_P50[$c]=$RUN_P50; Q_P99[$c]=$RUN_P99
  if [ "$ANCHOR" = 1 ]; then
    echo "== $c client(s): etcd, 5 members (CONCURRENCY=$c REPEATS=$REPEATS DURATION=$DURATION WARMUP=$WARMUP CHECK_PERF= $ETCD5)"
    out=$(CONCURRENCY="$c" REPEATS="$REPEATS" DURATION="$DURATION" WARMUP="$WARMUP" CHECK_PERF="" CLIENT="$CLIENT" \
      MEMBERS=5 VAL_SIZE=200 "$ETCD5" 2>&1)
    echo "$out" | grep -E '^(== etcd|== put|RESULT|SUMMARY)|rror|need|died' | grep -v '^== summary'
    line=$(echo "$out" | grep '^SUMMARY' | tail -1)
    ANCHOR_SUMMARY+="$line"$'\n'
    E_RATE[$c]=$(echo "$line" | sed -n 's/.*writes\/s=\([0-9.]*\).*/\1/p')
    E_P50[$c]=$(echo "$line" | sed -n 's/.* p50=\([0-9.]*\)ms.*/\1/p')
    E_P99[$c]=$(echo "$line" | sed -n 's/.* p99=\([0-9.]*\)ms.*/\1/p')
    if [ -n "${E_RATE[$c]}" ] && [ "${E_RATE[$c]%.*}" -gt 0 ]; then
      oc=$(( 2 * c > OPEN_MIN_CONNECTIONS ? 2 * c : OPEN_MIN_CONNECTIONS ))
      echo "== $c client(s): Quorum open loop at etcd's rate (--rate ${E_RATE[$c]} --batch 1 --connections $oc)"
      quorum_runs --rate "${E_RATE[$c]}" --batch 1 --connections "$oc" --prefix lg/single/
      O_RATE[$c]=$RUN_RATE; O_P50[$c]=$RUN_P50; O_P99[$c]=$RUN_P99
    fi
  fi
done
echo "== batched: Quorum closed loop, NDJSON (--batch $BATCH --connections $CONN_BATCH)"
quorum_runs --batch "$BATCH" --connections "$CONN_BATCH" --prefix lg/batch/
B_RATE=$RUN_RATE; B_P50=$RUN_P50; B_P99=$RUN_P99

echo "== router counters of $WRITER"
METRICS=$(curl -s "$(cluster5_url "$WRITER")/metrics")
echo "$METRICS" | grep -E '^quorum_router_(forwarded|timeouts|acquisitions|served_remote)'
# Every key of the load is written by WRITER, so it forwards nothing: a check
# that loadgen_bench's placement agrees with the nodes'.
FORWARDED=$(echo "$METRICS" | awk '$1 == "quorum_router_forwarded_total" {print $2}')
[ "${FORWARDED:-0}" = 0 ] || echo "WARNING: $WRITER forwarded $FORWARDED requests: the load was not all on its own keys"

echo "== summary ($(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)); medians over $REPEATS run(s)"
[ -n "$ANCHOR_SUMMARY" ] && printf '%s' "$ANCHOR_SUMMARY"
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN{if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b}'; }
fmt() { [ -n "${1:-}" ] && printf "%.0f" "$1" || echo "-"; }
ms() { [ -n "${1:-}" ] && printf "%.2f" "$1" || echo "-"; }
echo "(\"at etcd's rate\": open loop over max(2 x clients, $OPEN_MIN_CONNECTIONS) connections)"
echo "| clients | Quorum acked/s | p50 ms | p99 ms | etcd writes/s | p50 ms | p99 ms | throughput Q/etcd | Quorum at etcd's rate: acked/s | p50 ms | p99 ms | p99 Q/etcd |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
ETCD_BEST=0
for c in $CONCURRENCY; do
  e=${E_RATE[$c]:-}
  [ -n "$e" ] && awk -v a="$e" -v b="$ETCD_BEST" 'BEGIN{exit !(a > b)}' && ETCD_BEST=$e
  echo "| $c | $(fmt "${Q_RATE[$c]:-}") | $(ms "${Q_P50[$c]:-}") | $(ms "${Q_P99[$c]:-}") | $(fmt "$e") | $(ms "${E_P50[$c]:-}") | $(ms "${E_P99[$c]:-}") | $(ratio "${Q_RATE[$c]:-}" "$e") | $(fmt "${O_RATE[$c]:-}") | $(ms "${O_P50[$c]:-}") | $(ms "${O_P99[$c]:-}") | $(ratio "${O_P99[$c]:-}" "${E_P99[$c]:-}") |"
done
BEST_TEXT=""
[ "$ETCD_BEST" != 0 ] && BEST_TEXT="; $(ratio "${B_RATE:-}" "$ETCD_BEST") etcd's best level ($(fmt "$ETCD_BEST") writes/s)"
echo "batched ($BATCH per request, $CONN_BATCH connections): $(fmt "${B_RATE:-}") acked/s, p50 $(ms "${B_P50:-}") ms, p99 $(ms "${B_P99:-}") ms per request$BEST_TEXT"
echo "targets (issue 5): throughput >= 5x etcd at equal durability; p99 <= etcd's at the same offered load (p99 Q/etcd <= 1)"
exit 0
