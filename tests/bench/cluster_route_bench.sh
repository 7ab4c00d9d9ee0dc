#!/usr/bin/env bash
# cluster_route_bench.sh - commands/s and latency straight to a key's owner
# vs through a node that does not own it (router + mailroom hop).
#
#   tests/bench/cluster_route_bench.sh [QUORUMD]   # default build/release/host/quorumd
#
# Starts two quorumd processes as a cluster (FL-A-1 and TN-A-1, embedded
# topology; a home rule puts every benchmark key "lg/..." in FL, so FL-A-1
# owns them all), then runs loadgen_bench against FL-A-1 (the owner) and
# against TN-A-1 (every command crosses the mailroom to FL-A-1 and back),
# batched and single. Builds nothing; stops exactly what it started.
# Knobs: LOADGEN, PLUGINS, DURATION=10, WARMUP=2, BATCH=1000, KEYS=1000,
#   CONN_BATCH=8, CONN_SINGLE=64.
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
CONN_SINGLE=${CONN_SINGLE:-64}

DIR=$(mktemp -d /tmp/quorum-route-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port); P2=$(free_port)
cat > "$DIR/topology.json" <<JSON
{
  "version": 1,
  "epoch": 1,
  "data_centers": [
    {"name": "FL", "nodes": [{"name": "FL-A-1", "zone": "A", "address": "127.0.0.1:$P1"}]},
    {"name": "TN", "nodes": [{"name": "TN-A-1", "zone": "A", "address": "127.0.0.1:$P2"}]}
  ],
  "home_rules": [{"prefix": "lg", "dc": "FL"}]
}
JSON

declare -A URL
for name in FL-A-1 TN-A-1; do
  "$QUORUMD" --data "$DIR/$name" --http 127.0.0.1:0 --name "$name" --topology "$DIR/topology.json" \
    --plugins "$PLUGINS" >"$DIR/$name.out" 2>"$DIR/$name.log" &
  PIDS+=($!)
done
for name in FL-A-1 TN-A-1; do
  for _ in $(seq 1 200); do
    grep -q "serving on" "$DIR/$name.out" 2>/dev/null && break
    sleep 0.05
  done
  URL[$name]=$(sed -n 's/.* serving on //p' "$DIR/$name.out")
  [ -n "${URL[$name]}" ] || { echo "$name did not start:"; tail "$DIR/$name.log"; exit 1; }
done

run() {  # name label args...
  local node=$1 label=$2; shift 2
  echo "== $label via $node"
  "$LOADGEN" --node "${URL[$node]}" --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" \
    --prefix "lg/$label/$node/" "$@" | tail -4
}
date -u +"run at %Y-%m-%dT%H:%M:%SZ"
for node in FL-A-1 TN-A-1; do
  run "$node" batched --batch "$BATCH" --connections "$CONN_BATCH"
  run "$node" single --batch 1 --connections "$CONN_SINGLE"
done
echo "== router counters of TN-A-1"
curl -s "${URL[TN-A-1]}/metrics" | grep -E '^quorum_router_(forwarded|timeouts)'
