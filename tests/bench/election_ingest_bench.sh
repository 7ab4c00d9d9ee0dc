#!/usr/bin/env bash
# election_ingest_bench.sh - end-to-end election ingest on a local replicated
# cluster: CVR files -> every ballot acknowledged (3 of 5 copies) -> every
# ballot visible in /v1/results. Prints ballots/s for both.
#
#   tests/bench/election_ingest_bench.sh [QUORUMCTL]   # default build/release/host/quorumctl/quorumctl
#
# Builds nothing: needs quorumctl with the election commands, quorumd beside
# it and the built plugins (scripts/build release quorumd quorumctl
# quorum_plugins); python3 and curl. Steps:
#   1. `quorumctl cluster up --replicated` (4 DCs x 2 nodes, embedded topology)
#      in a fresh directory;
#   2. `quorumctl gen` BALLOTS ballots (PER_PRECINCT per precinct, files of
#      <= 100,000 CVRs) - not timed in the figures (its own time is printed);
#   3. `quorumctl election load` through node 1 (timed);
#   4. t0; `quorumctl ingest --batch BATCH` through node 2, no rate limit:
#      returns when every ballot is acknowledged and every precinct closed
#      -> ACK seconds;
#   5. poll GET /v1/results?election=bench on node 3 every POLL seconds until
#      the statewide contest counts every ballot and every precinct reported
#      -> VISIBLE seconds (from t0).
# Prints the parameters and one summary line:
#   election_ingest ballots=N precincts=P ack_s=A ack_per_s=N/A visible_s=V visible_per_s=N/V
# Stops exactly the cluster it started (trap). A failed run keeps WORK.
# Knobs (environment): BALLOTS=100000, PER_PRECINCT=500, BATCH=1000, SEED=1,
#   POLL=0.5, VISIBLE_TIMEOUT=600, WORK (default: a fresh mktemp -d dir),
#   NODE_CONFIG (a quorumd config passed to every node, e.g. node.sync=false).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QUORUMCTL=${1:-${QUORUMCTL:-$ROOT/build/release/host/quorumctl/quorumctl}}
BALLOTS=${BALLOTS:-100000}
PER_PRECINCT=${PER_PRECINCT:-500}
BATCH=${BATCH:-1000}
SEED=${SEED:-1}
POLL=${POLL:-0.5}
VISIBLE_TIMEOUT=${VISIBLE_TIMEOUT:-600}
WORK=${WORK:-$(mktemp -d /tmp/quorum-election-bench.XXXXXX)}
NODE_CONFIG=${NODE_CONFIG:-}

[ -x "$QUORUMCTL" ] || { echo "not executable: $QUORUMCTL (build quorumctl first)" >&2; exit 1; }
command -v python3 >/dev/null && command -v curl >/dev/null || { echo "need python3 and curl" >&2; exit 1; }
"$QUORUMCTL" --help | grep -q '^  ingest ' || { echo "this quorumctl has no ingest command" >&2; exit 1; }
PRECINCTS=$(( (BALLOTS + PER_PRECINCT - 1) / PER_PRECINCT ))
BALLOTS=$(( PRECINCTS * PER_PRECINCT ))

now() { date +%s.%N; }
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
rate() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.0f}')" "$1" "$2"; }

ok=0
cleanup() {
  "$QUORUMCTL" cluster down --dir "$WORK/cluster" >/dev/null 2>&1
  if [ "$ok" = 1 ]; then rm -rf "$WORK"; else echo "work dir kept: $WORK" >&2; fi
}
trap cleanup EXIT

up=("$QUORUMCTL" cluster up --dir "$WORK/cluster" --replicated)
[ -n "$NODE_CONFIG" ] && up+=(--node-config "$NODE_CONFIG")
"${up[@]}" >"$WORK/up.log" || { cat "$WORK/up.log" >&2; exit 1; }
mapfile -t URLS < <(python3 -c 'import json,sys; [print(n["url"]) for n in json.load(open(sys.argv[1]))["nodes"]]' \
  "$WORK/cluster/cluster.json")
echo "cluster: ${#URLS[@]} nodes, replicated; $PRECINCTS precincts x $PER_PRECINCT ballots = $BALLOTS; batch $BATCH"

t=$(now)
"$QUORUMCTL" --no-progress gen --out "$WORK/election" --name bench --precincts "$PRECINCTS" \
  --ballots-per-precinct "$PER_PRECINCT" --seed "$SEED" >"$WORK/gen.log" || { cat "$WORK/gen.log" >&2; exit 1; }
echo "gen: $(seconds "$t" "$(now)") s ($(du -sh "$WORK/election" | cut -f1) of NIST JSON)"

t=$(now)
"$QUORUMCTL" --node "${URLS[0]}" election load "$WORK/election/pe-err-bench.json" --id bench || exit 1
echo "load: $(seconds "$t" "$(now)") s"

t0=$(now)
"$QUORUMCTL" --node "${URLS[1]}" --no-progress ingest "$WORK"/election/cvr-bench-*.json --election bench \
  --batch "$BATCH" || exit 1
t_ack=$(now)

deadline=$(python3 -c "import sys; print(float(sys.argv[1]) + float(sys.argv[2]))" "$t_ack" "$VISIBLE_TIMEOUT")
while :; do
  seen=$(curl -sf "${URLS[2]}/v1/results?election=bench" | python3 -c '
import json, sys
r = json.load(sys.stdin)
state = [c for c in r["contests"] if c["id"] == "cc-governor"]
done = r["reporting"]["reported"] == r["reporting"]["total"]
print(state[0]["ballots"] if state and done else -1)' 2>/dev/null || echo -1)
  [ "$seen" = "$BALLOTS" ] && break
  if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$(now)" "$deadline"; then
    echo "results did not show all $BALLOTS ballots within $VISIBLE_TIMEOUT s (last: $seen)" >&2
    exit 1
  fi
  sleep "$POLL"
done
t_visible=$(now)

ack_s=$(seconds "$t0" "$t_ack")
visible_s=$(seconds "$t0" "$t_visible")
echo "election_ingest ballots=$BALLOTS precincts=$PRECINCTS ack_s=$ack_s ack_per_s=$(rate "$BALLOTS" "$ack_s")" \
  "visible_s=$visible_s visible_per_s=$(rate "$BALLOTS" "$visible_s")"
ok=1
