#!/usr/bin/env bash
# node_bench.sh - one quorumd node under load, then the etcd anchor right after.
#
#   tests/bench/node_bench.sh [QUORUMD]        # default build/release/host/quorumd
#
# Builds nothing. Needs loadgen_bench (next to QUORUMD's build: <build>/tests/bench/,
# or LOADGEN=...), python3 and curl. Starts a fresh quorumd on a mktemp dir and
# stops exactly the process it started. Measures, in this order:
#   1. peak throughput, batched (closed loop, POST /v1/commands, BATCH per request)
#   2. peak throughput, single  (closed loop, POST /v1/actors/{key}/commands)
#   3. latency at half of each peak (open loop, fixed rate)
#   4. memory per active and per passivated actor (VmRSS of quorumd before and
#      after activating MEM_ACTORS new actors; then, once they passivated,
#      after activating MEM_ACTORS more: what the passivated ones still hold)
#   5. recovery: fills the data dir to RECOVERY_ENTRIES entries, restarts
#      quorumd, times restart-to-serving and then until every actor answered
#      a read (each actor recovers: latest snapshot + log tail, chain verified;
#      one HTTP read per actor, sequential, so this is bound by actors/s)
#   5b. the store's own recovery bench (store_recovery_bench, if built next to
#      quorumd): STORE_RECOVERY_ENTRIES entries, full hash-chain verification
#   6. the anchor: MEMBERS=1 /work/shared/bench/etcd5.sh (if present), small
# and prints a summary with ratios. Knobs (environment):
#   LOADGEN, PLUGINS, DURATION=10, WARMUP=2, BATCH=1000, KEYS=1000,
#   CONN_BATCH=8, CONN_SINGLE=128, LAT_BATCH=100, MEM_ACTORS=20000,
#   IDLE_MS=5000, RECOVERY_ENTRIES=1000000, STORE_RECOVERY_ENTRIES=1000000 (5b, if built), ANCHOR=1, ANCHOR_CONCURRENCY="64 256",
#   ANCHOR_REPEATS=1, PORT=0 (pick one), SKIP="" (words: peak latency memory recovery anchor)
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QUORUMD=${1:-${QUORUMD:-$ROOT/build/release/host/quorumd}}
BUILD=$(cd "$(dirname "$QUORUMD")/.." && pwd)
LOADGEN=${LOADGEN:-$BUILD/tests/bench/loadgen_bench}
PLUGINS=${PLUGINS:-$BUILD/plugins}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
BATCH=${BATCH:-1000}
KEYS=${KEYS:-1000}
CONN_BATCH=${CONN_BATCH:-8}
CONN_SINGLE=${CONN_SINGLE:-128}
LAT_BATCH=${LAT_BATCH:-100}
MEM_ACTORS=${MEM_ACTORS:-20000}
IDLE_MS=${IDLE_MS:-5000}
RECOVERY_ENTRIES=${RECOVERY_ENTRIES:-1000000}
STORE_RECOVERY_ENTRIES=${STORE_RECOVERY_ENTRIES:-1000000}
ANCHOR=${ANCHOR:-1}
ANCHOR_CONCURRENCY=${ANCHOR_CONCURRENCY:-"64 256"}
ANCHOR_REPEATS=${ANCHOR_REPEATS:-1}
SKIP=${SKIP:-}
PORT=${PORT:-0}

for f in "$QUORUMD" "$LOADGEN"; do
  [ -x "$f" ] || { echo "not executable: $f (build quorumd and loadgen_bench first)" >&2; exit 1; }
done
command -v python3 >/dev/null && command -v curl >/dev/null || { echo "need python3 and curl" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/quorum-node-bench.XXXXXX")
PID=""
cleanup() {
  if [ -n "$PID" ]; then
    kill -TERM "$PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

skip() { case " $SKIP " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
log() { echo "# $*"; }
[ "$PORT" = 0 ] && PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
cat >"$WORK/config.json" <<JSON
{"node": {"idle_passivation_ms": $IDLE_MS, "max_actors": $((MEM_ACTORS + KEYS + 10000))}}
JSON

START_S=""
start_node() {  # sets PID, and START_S: seconds until /v1/health said serving (not in a subshell!)
  local t0 t1
  t0=$(date +%s.%N)
  "$QUORUMD" --data "$WORK/data" --http "127.0.0.1:$PORT" --plugins "$PLUGINS" --config "$WORK/config.json" \
    >>"$WORK/quorumd.log" 2>&1 &
  PID=$!
  for _ in $(seq 6000); do
    if curl -fs "$URL/v1/health" >/dev/null 2>&1; then
      t1=$(date +%s.%N); START_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}'); return 0
    fi
    kill -0 "$PID" 2>/dev/null || { echo "quorumd died; log:" >&2; tail -20 "$WORK/quorumd.log" >&2; exit 1; }
    sleep 0.01
  done
  echo "quorumd not serving after 60 s" >&2; exit 1
}
stop_node() {
  [ -n "$PID" ] || return 0
  kill -TERM "$PID" 2>/dev/null
  for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=""
}
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$PID/status"; }
field() { awk -v k="$1" '{for (i = 1; i <= NF; i++) {n = index($i, "="); if (n && substr($i, 1, n - 1) == k) v = substr($i, n + 1)}} END {print v}'; }  # from a RESULT line on stdin
loadgen() { "$LOADGEN" --node "$URL" --duration "$DURATION" --warmup "$WARMUP" "$@" | tee -a "$WORK/loadgen.log" | grep '^RESULT'; }

TOTAL_ACKED=0
add_acked() { TOTAL_ACKED=$(awk -v a="$TOTAL_ACKED" -v r="$1" -v d="$DURATION" -v w="$WARMUP" 'BEGIN{printf "%.0f", a + r * (d + w)}'); }

echo "== quorum node benchmark: $(date -u +%FT%TZ), $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "quorumd: $QUORUMD; loadgen: $LOADGEN; plugins: $PLUGINS; data: $WORK/data ($(df -PT "$WORK" | awk 'NR==2{print $2}'))"
log "ballots: ~200-byte NIST CVR JSON (type cvr), $KEYS actors, unique ids; durable = LevelDB sync write (group commit)"
start_node
log "started in $START_S s (pid $PID)"

PEAK_B=0; PEAK_S=0; LAT_B=""; LAT_S=""
if ! skip peak; then
  echo "== 1. peak, batched: --batch $BATCH --connections $CONN_BATCH (closed loop, ${DURATION}s)"
  R=$(loadgen --batch "$BATCH" --connections "$CONN_BATCH" --keys "$KEYS" --prefix peakb/); echo "$R"
  PEAK_B=$(echo "$R" | field 'acked/s'); add_acked "$PEAK_B"
  echo "== 2. peak, single: --batch 1 --connections $CONN_SINGLE (closed loop, ${DURATION}s)"
  R=$(loadgen --batch 1 --connections "$CONN_SINGLE" --keys "$KEYS" --prefix peaks/); echo "$R"
  PEAK_S=$(echo "$R" | field 'acked/s'); add_acked "$PEAK_S"
fi
if ! skip latency && [ "${PEAK_B%.*}" -gt 0 ]; then
  HALF_B=$((${PEAK_B%.*} / 2)); HALF_S=$((${PEAK_S%.*} / 2))
  echo "== 3a. latency at half the batched peak: open loop --rate $HALF_B --batch $LAT_BATCH"
  LAT_B=$(loadgen --rate "$HALF_B" --batch "$LAT_BATCH" --connections 64 --keys "$KEYS" --prefix latb/); echo "$LAT_B"
  add_acked "$(echo "$LAT_B" | field 'acked/s')"
  if [ "$HALF_S" -gt 0 ]; then
    echo "== 3b. latency at half the single peak: open loop --rate $HALF_S --batch 1"
    LAT_S=$(loadgen --rate "$HALF_S" --batch 1 --connections "$CONN_SINGLE" --keys "$KEYS" --prefix lats/); echo "$LAT_S"
    add_acked "$(echo "$LAT_S" | field 'acked/s')"
  fi
fi

MEM_ACTIVE=""; MEM_PASSIVE=""
if ! skip memory; then
  echo "== 4. memory: $MEM_ACTORS new actors, one ballot each; passivation after ${IDLE_MS} ms idle"
  sleep $(( IDLE_MS / 1000 + 2 ))  # earlier actors passivate first
  R0=$(rss_kb)
fill_actors() {  # $1 = key prefix: one ballot to each of MEM_ACTORS new actors
  python3 - "$URL" "$MEM_ACTORS" "$1" <<'PY'
import http.client, json, sys, urllib.parse
url, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
host, port = urllib.parse.urlparse(url).hostname, urllib.parse.urlparse(url).port
conn = http.client.HTTPConnection(host, port, timeout=60)
data = {"CVRSnapshot": [{"@id": "s", "CVRContest": [{"ContestId": "mayor", "CVRContestSelection": [
    {"ContestSelectionId": "alice", "SelectionPosition": [{"HasIndication": "yes", "NumberVotes": 1}]}]}]}],
    "CurrentSnapshotId": "s"}
for start in range(0, n, 5000):
    body = "".join(json.dumps({"key": f"{prefix}/precinct/{k}", "id": f"{prefix}-{k}", "type": "cvr", "data": data}) + "\n"
                   for k in range(start, min(n, start + 5000)))
    conn.request("POST", "/v1/commands", body, {"Content-Type": "application/x-ndjson", "Accept": "application/x-ndjson"})
    r = conn.getresponse(); text = r.read().decode()
    bad = [l for l in text.splitlines() if '"seq"' not in l]
    if r.status != 200 or bad:
        sys.exit(f"memory fill: HTTP {r.status} {bad[:3]}")
PY
}
  fill_actors mem
  R1=$(rss_kb)
  ACTIVE_NOW=$(curl -fs "$URL/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("actors_active"))')
  sleep $(( IDLE_MS / 1000 + 3 ))
  R2=$(rss_kb)
  PASSIVE_NOW=$(curl -fs "$URL/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("actors_active"))')
  # RSS rarely shrinks (malloc keeps freed pages), so the passivated cost is
  # measured by reuse: a second wave of MEM_ACTORS new actors while the first
  # wave is passivated. R3 = R0 + N*active + N*passivated.
  fill_actors mem2
  R3=$(rss_kb)
  MEM_ACTIVE=$(awk -v a="$R0" -v b="$R1" -v n="$MEM_ACTORS" 'BEGIN{printf "%.0f", (b-a)*1024/n}')
  MEM_PASSIVE=$(awk -v a="$R0" -v b="$R1" -v c="$R3" -v n="$MEM_ACTORS" 'BEGIN{p = ((c-a) - (b-a))*1024/n; printf "%.0f", p < 0 ? 0 : p}')
  echo "RESULT memory actors=$MEM_ACTORS rss_kb before=$R0 wave1_active=$R1 (actors_active=$ACTIVE_NOW) wave1_passivated=$R2 (actors_active=$PASSIVE_NOW) wave2_active=$R3 bytes/active_actor=$MEM_ACTIVE bytes/passivated_actor=$MEM_PASSIVE"
  TOTAL_ACKED=$((TOTAL_ACKED + 2 * MEM_ACTORS))
fi

REC_SERVE=""; REC_ALL=""; REC_RATE=""
if ! skip recovery; then
  echo "== 5. recovery: fill to >= $RECOVERY_ENTRIES entries (now ~$TOTAL_ACKED), restart, read every actor"
  while [ "$TOTAL_ACKED" -lt "$RECOVERY_ENTRIES" ]; do
    R=$(loadgen --batch "$BATCH" --connections "$CONN_BATCH" --keys "$KEYS" --prefix peakb/)
    RATE=$(echo "$R" | field 'acked/s')
    add_acked "${RATE:-0}"
    [ "${RATE:-0}" = 0 ] && { echo "no progress filling: $R" >&2; break; }
  done
  # The exact count: every actor's seq, summed after the restart below.
  stop_node
  start_node
  REC_SERVE=$START_S
  T0=$(date +%s.%N)
  OUT=$(python3 - "$URL" "$KEYS" "$MEM_ACTORS" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); keys, mem = int(sys.argv[2]), int(sys.argv[3])
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
names = [f"{p}/precinct/{k}" for p in ("peakb", "peaks", "latb", "lats") for k in range(keys)]
names += [f"{p}/precinct/{k}" for p in ("mem", "mem2") for k in range(mem)]
entries = actors = 0
for name in names:
    conn.request("GET", "/v1/actors/" + urllib.parse.quote(name, safe=""))
    r = conn.getresponse(); body = r.read()
    if r.status == 200:
        entries += json.loads(body)["seq"]; actors += 1
    elif r.status != 404:
        sys.exit(f"{name}: HTTP {r.status} {body[:200]}")
print(entries, actors)
PY
)
  T1=$(date +%s.%N)
  read -r ENTRIES ACTORS <<<"$OUT"
  REC_ALL=$(awk -v a="$T0" -v b="$T1" -v s="$REC_SERVE" 'BEGIN{printf "%.3f", s + b - a}')
  REC_RATE=$(awk -v e="$ENTRIES" -v t="$REC_ALL" 'BEGIN{printf "%.0f", e / t}')
  echo "RESULT recovery entries=$ENTRIES actors=$ACTORS restart_to_serving_s=$REC_SERVE restart_to_all_actors_read_s=$REC_ALL entries/s=$REC_RATE actors/s=$(awk -v a="$ACTORS" -v t="$REC_ALL" 'BEGIN{printf "%.0f", a / t}') data_dir=$(du -sh "$WORK/data" | cut -f1)"
fi
[ -n "$PID" ] && stop_node

STORE_REC=""
STORE_BENCH=$BUILD/tests/bench/store_recovery_bench
if ! skip recovery && [ -x "$STORE_BENCH" ]; then
  echo "== 5b. the store's own recovery: $STORE_BENCH --entries $STORE_RECOVERY_ENTRIES --group-commits 50 (full hash-chain verification, no HTTP)"
  mkdir -p "$WORK/store"
  "$STORE_BENCH" --entries "$STORE_RECOVERY_ENTRIES" --group-commits 50 --dir "$WORK/store" | tee "$WORK/store.log"
  STORE_REC=$(grep -m1 '^recover' "$WORK/store.log")
  rm -rf "$WORK/store"
fi

ANCHOR_LINES=""
if [ "$ANCHOR" = 1 ] && ! skip anchor && [ -x /work/shared/bench/etcd5.sh ]; then
  echo "== 6. anchor: MEMBERS=1 CHECK_PERF= CONCURRENCY=\"$ANCHOR_CONCURRENCY\" REPEATS=$ANCHOR_REPEATS DURATION=$DURATION /work/shared/bench/etcd5.sh"
  ANCHOR_OUT=$(MEMBERS=1 CHECK_PERF= CONCURRENCY="$ANCHOR_CONCURRENCY" REPEATS="$ANCHOR_REPEATS" DURATION="$DURATION" \
    /work/shared/bench/etcd5.sh 2>&1)
  echo "$ANCHOR_OUT" | grep -E '^(==|RESULT|SUMMARY)'
  ANCHOR_LINES=$(echo "$ANCHOR_OUT" | grep '^SUMMARY')
fi

echo "== summary ($(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg))"
ETCD_BEST=$(echo "$ANCHOR_LINES" | sed -n 's/.*writes\/s=\([0-9]*\).*/\1/p' | sort -n | tail -1)
ratio() { [ -n "${2:-}" ] && [ "${2:-0}" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN{printf " (%.1fx etcd 1-member best %s/s)", a/b, b}'; }
echo "peak batched (batch $BATCH):   ${PEAK_B} acknowledged durable commands/s$(ratio "$PEAK_B" "$ETCD_BEST")  target >= 100000"
echo "peak single:                  ${PEAK_S} acknowledged durable commands/s$(ratio "$PEAK_S" "$ETCD_BEST")"
[ -n "$LAT_B" ] && echo "half batched peak, batch $LAT_BATCH: p50 $(echo "$LAT_B" | field p50_ms) ms  p99 $(echo "$LAT_B" | field p99_ms) ms  max $(echo "$LAT_B" | field max_ms) ms  (acked/s $(echo "$LAT_B" | field 'acked/s'))  target p99 < 10 ms"
[ -n "$LAT_S" ] && echo "half single peak:             p50 $(echo "$LAT_S" | field p50_ms) ms  p99 $(echo "$LAT_S" | field p99_ms) ms  max $(echo "$LAT_S" | field max_ms) ms  (acked/s $(echo "$LAT_S" | field 'acked/s'))"
[ -n "$MEM_ACTIVE" ] && echo "memory: ${MEM_ACTIVE} bytes per active actor, ${MEM_PASSIVE} bytes per passivated actor (RSS deltas)"
[ -n "$REC_RATE" ] && echo "recovery: ${ENTRIES} entries over ${ACTORS} actors: serving after ${REC_SERVE} s, every actor read after ${REC_ALL} s = ${REC_RATE} entries/s  target >= 1000000/s"
[ -n "$STORE_REC" ] && echo "store recovery (no HTTP, $STORE_RECOVERY_ENTRIES entries): $STORE_REC"
[ -n "$ANCHOR_LINES" ] && echo "$ANCHOR_LINES"
exit 0
