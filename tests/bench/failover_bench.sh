#!/usr/bin/env bash
# failover_bench.sh - how long a writer's keys refuse writes after its node is
# killed: SIGKILL of the writer until each of its keys acknowledges a write
# again, as a distribution over TRIALS trials.
#
#   tests/bench/failover_bench.sh [QUORUMD]   # default build/release/host/quorumd
#
# Builds nothing: needs QUORUMD and, in its build dir, tests/bench/loadgen_bench
# (or LOADGEN=...) and plugins/ (or PLUGINS=...); python3 and curl. Starts the
# five-node cluster of cluster5.sh (4 DCs: FL-A-1, FL-B-1, TN-A-1, TX-A-1,
# UT-A-1; embedded topology store, default settings: heartbeat 1 s, failure
# timeout 4 s, request timeout 10 s, unless QUORUMD_CONFIG says otherwise).
# Each trial (victim X and client node S drawn from SEED; S != X):
#   1. light steady load (open loop, RATE commands/s, CONNECTIONS connections)
#      through S to KEYS fresh keys whose writer is X (loadgen_bench --writer X,
#      prefix fo/<trial>/, keys spread over all four DCs), for PRE seconds;
#      every key must have been acknowledged before the kill, else the trial
#      is reported invalid;
#   2. SIGKILL X, and keep the load on for WINDOW seconds. The client gives up
#      on a request after REQUEST_TIMEOUT s and sends the next one, so a
#      request stuck on the dead node does not hide the recovery;
#   3. per key: the first acknowledged (HTTP 200) request sent after the
#      victim was reaped, its answer time minus the time just before the
#      SIGKILL (loadgen_bench --ack-log);
#      the trial's figure is the last of its keys (all of X's keys writable);
#   4. restart X on its data dir, wait until it serves, then SETTLE seconds.
# Prints each trial and min/p50/p90/max over trials (and over all keys).
# The resolution is about one probe per key: KEYS / (CONNECTIONS / REQUEST_TIMEOUT)
# seconds while requests hang, KEYS / RATE otherwise.
# Until replication is wired into quorumd a killed writer's keys move to a
# new owner by the failure detector (4 s) and a hand-off from the survivors
# (the new owner starts from what it holds: nothing): "before replication".
# Stops exactly the processes it started. Knobs (environment): LOADGEN, PLUGINS,
#   QUORUMD_CONFIG, TRIALS=20, SEED=1, KEYS=16, RATE=200, CONNECTIONS=64,
#   REQUEST_TIMEOUT=0.5, PRE=3, WINDOW=12, SETTLE=3.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QUORUMD=${1:-${QUORUMD:-$ROOT/build/release/host/quorumd}}
BUILD=$(cd "$(dirname "$QUORUMD")/.." && pwd)
LOADGEN=${LOADGEN:-$BUILD/tests/bench/loadgen_bench}
PLUGINS=${PLUGINS:-$BUILD/plugins}
TRIALS=${TRIALS:-20}
SEED=${SEED:-1}
KEYS=${KEYS:-16}
RATE=${RATE:-200}
CONNECTIONS=${CONNECTIONS:-64}
REQUEST_TIMEOUT=${REQUEST_TIMEOUT:-0.5}
PRE=${PRE:-3}
WINDOW=${WINDOW:-12}
SETTLE=${SETTLE:-3}

for f in "$QUORUMD" "$LOADGEN"; do
  [ -x "$f" ] || { echo "not executable: $f (build quorumd and loadgen_bench first)" >&2; exit 1; }
done
[ -d "$PLUGINS" ] || { echo "no plugin dir $PLUGINS" >&2; exit 1; }
command -v python3 >/dev/null && command -v curl >/dev/null || { echo "need python3 and curl" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/quorum-failover-bench.XXXXXX")
LG_PID=""
# shellcheck source=cluster5.sh
. "$HERE/cluster5.sh"
cleanup() {
  if [ -n "$LG_PID" ]; then
    kill -TERM "$LG_PID" 2>/dev/null
    wait "$LG_PID" 2>/dev/null
  fi
  cluster5_stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "# $*"; }

echo "== quorum failover benchmark: $(date -u +%FT%TZ), $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "quorumd: $QUORUMD; loadgen: $LOADGEN; config: ${QUORUMD_CONFIG:-defaults}; seed $SEED, $TRIALS trials"
log "per trial: $KEYS keys written by the victim, open loop $RATE/s over $CONNECTIONS connections through another node," \
  "request timeout ${REQUEST_TIMEOUT}s; ${PRE}s before the SIGKILL, ${WINDOW}s after; restart, ${SETTLE}s to settle"
cluster5_init
cluster5_start "${CLUSTER5_NODES[@]}" || exit 1
sleep "$SETTLE"

# Victim and client per trial, reproducible from SEED.
PLAN=$(python3 - "$SEED" "$TRIALS" "${CLUSTER5_NODES[@]}" <<'PY'
import random, sys
rng = random.Random(int(sys.argv[1]))
nodes = sys.argv[3:]
for _ in range(int(sys.argv[2])):
    victim = rng.choice(nodes)
    print(victim, rng.choice([n for n in nodes if n != victim]))
PY
)

: >"$WORK/trials.txt"
trial=0
while read -r VICTIM VIA; do
  trial=$((trial + 1))
  ACK=$WORK/ack.$trial
  "$LOADGEN" --node "$(cluster5_url "$VIA")" --topology "$WORK/topology.json" --writer "$VICTIM" \
    --prefix "fo/$trial/" --keys "$KEYS" --batch 1 --rate "$RATE" --connections "$CONNECTIONS" \
    --request-timeout "$REQUEST_TIMEOUT" --warmup 0 --duration $((PRE + WINDOW)) --ack-log "$ACK" \
    >"$WORK/loadgen.$trial.log" 2>&1 &
  LG_PID=$!
  sleep "$PRE"
  # Times from the bash clock (no fork): just before the SIGKILL, and once
  # the victim is reaped. Only requests sent after the latter count (the
  # victim cannot have answered them); times count from the former.
  KILL_US=${EPOCHREALTIME/./}
  cluster5_kill "$VICTIM"
  DEAD_US=${EPOCHREALTIME/./}
  wait "$LG_PID"; LG_PID=""
  python3 - "$ACK" "${KILL_US}000" "${DEAD_US}000" "$KEYS" "$WINDOW" "$trial" "$VICTIM" "$VIA" <<'PY' | tee -a "$WORK/trials.txt"
import sys
path, kill_ns, dead_ns, keys, window, trial, victim, via = sys.argv[1:]
kill_ns, dead_ns, keys = int(kill_ns), int(dead_ns), int(keys)
acked_before, first_after, statuses = set(), {}, {}
try:
    lines = open(path).read().split()
except OSError:
    lines = []
for i in range(0, len(lines) - 3, 4):
    key, sent, answered, status = int(lines[i]), int(lines[i + 1]), int(lines[i + 2]), lines[i + 3]
    if sent >= dead_ns:
        statuses[status] = statuses.get(status, 0) + 1
    if status != "200":
        continue
    if answered < kill_ns:
        acked_before.add(key)
    elif sent >= dead_ns:  # sent once the victim was gone: not its answer
        t = (answered - kill_ns) / 1e6
        first_after[key] = min(first_after.get(key, t), t)
valid = len(acked_before) == keys
times = sorted(first_after.values())
last = f"{times[-1]:.0f}" if len(times) == keys else f">{float(window) * 1000:.0f}"
seen = ",".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
print(f"TRIAL {trial} victim={victim} via={via} valid={int(valid)} keys_acked_before={len(acked_before)}/{keys} "
      f"kill_to_reaped_ms={(dead_ns - kill_ns) / 1e6:.1f} "
      f"recovered={len(times)}/{keys} all_keys_ms={last} "
      f"first_key_ms={times[0] if times else -1:.0f} per_key_ms={','.join(f'{t:.0f}' for t in times)} after_kill={seen}")
PY
  cluster5_start "$VICTIM" || exit 1
  sleep "$SETTLE"
done <<<"$PLAN"

echo "== summary ($(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$WORK/trials.txt" "$WINDOW" <<'PY'
import math, sys
rows = [dict(kv.split("=", 1) for kv in line.split()[2:]) for line in open(sys.argv[1]) if line.startswith("TRIAL")]
window_ms = float(sys.argv[2]) * 1000
valid = [r for r in rows if r["valid"] == "1"]
def q(values, p):  # nearest rank
    values = sorted(values)
    return values[max(0, math.ceil(p * len(values)) - 1)]
def ms(text):  # ">12000" (not recovered within the window) counts as the window
    return window_ms if text.startswith(">") else float(text)
def line(name, values, unrecovered):
    if not values:
        print(f"{name}: none")
        return
    print(f"{name}: n={len(values)} min={min(values):.0f} p50={q(values, .5):.0f} p90={q(values, .9):.0f} "
          f"max={max(values):.0f} ms" + (f" ({unrecovered} not recovered within {window_ms:.0f} ms, counted as that)" if unrecovered else ""))
print(f"trials: {len(rows)}, valid: {len(valid)} (every key acknowledged before the kill)")
alls = [ms(r["all_keys_ms"]) for r in valid]
line("SIGKILL -> all of the victim's keys writable again, per trial", alls,
     sum(r["all_keys_ms"].startswith(">") for r in valid))
per_key = [float(t) for r in valid for t in r["per_key_ms"].split(",") if t]
missing = sum(int(r["recovered"].split("/")[1]) - int(r["recovered"].split("/")[0]) for r in valid)
line("SIGKILL -> a key writable again, over all keys of all trials", per_key + [window_ms] * missing, missing)
by_victim = {}
for r in valid:
    by_victim.setdefault(r["victim"], []).append(ms(r["all_keys_ms"]))
print("per victim (all keys, ms): " + "; ".join(f"{v}: {' '.join(f'{t:.0f}' for t in ts)}" for v, ts in sorted(by_victim.items())))
print("target (issue 5): failover under 2 s at default settings")
PY
exit 0
