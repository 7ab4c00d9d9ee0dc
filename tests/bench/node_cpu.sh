#!/usr/bin/env bash
# node_cpu.sh - node CPU time per acknowledged command, the figure to compare
# when the machine is shared (throughput moves with other load; CPU per
# command much less). Starts a fresh quorumd, runs loadgen_bench once (closed
# loop, no warm-up) and reads the node's utime+stime from /proc before and
# after.
#
#   tests/bench/node_cpu.sh [BUILD]       # default build/release
#   knobs: DURATION=8 BATCH=1000 CONNECTIONS=8 KEYS=1000, EXTRA="more loadgen flags"
# Prints one line: acked/s, node CPU-seconds, µs of node CPU per command.
set -eu -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-$ROOT/build/release}
DURATION=${DURATION:-8}
BATCH=${BATCH:-1000}
CONNECTIONS=${CONNECTIONS:-8}
KEYS=${KEYS:-1000}
EXTRA=${EXTRA:-}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/quorum-node-cpu.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo '{"node": {"idle_passivation_ms": 5000, "max_actors": 50000}}' >"$WORK/config.json"
"$BUILD/host/quorumd" --data "$WORK/data" --http "127.0.0.1:$PORT" --plugins "$BUILD/plugins" \
  --config "$WORK/config.json" >"$WORK/quorumd.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 600); do curl -fs "http://127.0.0.1:$PORT/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
t0=$(ticks)
# shellcheck disable=SC2086
line=$("$BUILD/tests/bench/loadgen_bench" --node "http://127.0.0.1:$PORT" --duration "$DURATION" --warmup 0 \
  --batch "$BATCH" --connections "$CONNECTIONS" --keys "$KEYS" $EXTRA | grep '^RESULT')
t1=$(ticks)
acked=$(sed -n 's/.*acked\/s=\([0-9.]*\).*/\1/p' <<<"$line")
awk -v a="$acked" -v d="$DURATION" -v t="$((t1 - t0))" -v hz="$HZ" -v l="$line" 'BEGIN {
  cpu = t / hz; n = a * d;
  printf "%s\nnode_cpu_s=%.2f commands=%d node_cpu_us_per_command=%.1f\n", l, cpu, n, (n > 0 ? 1e6 * cpu / n : 0) }'
