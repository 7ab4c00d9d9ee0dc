# shellcheck shell=bash
# cluster5.sh - sourced by replicated_bench.sh and failover_bench.sh (not run
# on its own): five quorumd processes as one cluster on 127.0.0.1, embedded
# topology store (topology.json + failure detector), default settings.
#
# Topology (4 data centers, 5 nodes): FL-A-1 and FL-B-1 (FL's two zones),
# TN-A-1, TX-A-1, UT-A-1. Placement (DESIGN §4, quorum/cluster/placement.hpp)
# gives every key a writer on its home DC's ring, a follower in the writer's
# other zone of that DC, and one follower per other DC: with this topology
# every replica set is exactly these 5 processes. The home rule "lg" -> FL
# pins the throughput benchmark's keys (lg/...) to FL, so their writer is
# FL-A-1 or FL-B-1 (loadgen_bench --writer picks the ones FL-A-1 writes);
# other keys (failover_bench.sh's fo/...) are spread over all four DCs.
#
# The caller sets QUORUMD, PLUGINS, WORK (a private temp dir) and optionally
# QUORUMD_CONFIG (a quorumd --config file), and calls cluster5_stop_all from
# its EXIT trap. Each node's HTTP and mailroom ports are picked once, so a
# restarted node keeps its URL. Functions:
#   cluster5_init                   write $WORK/topology.json, pick ports
#   cluster5_start NAME...          start nodes, wait until each serves (60 s)
#   cluster5_kill NAME              SIGKILL one node and reap it
#   cluster5_stop_all               SIGTERM every node this shell started (10 s), then SIGKILL
#   cluster5_url NAME               its http://127.0.0.1:PORT
# Arrays: CLUSTER5_NODES (names), CLUSTER5_PID[NAME] (pid or empty).

CLUSTER5_NODES=(FL-A-1 FL-B-1 TN-A-1 TX-A-1 UT-A-1)
declare -A CLUSTER5_PID CLUSTER5_HTTP CLUSTER5_MAIL

cluster5_init() {
  local ports i=0 name
  # Ten distinct free ports at once (bound together, so no duplicates).
  ports=$(python3 -c '
import socket
socks = [socket.socket() for _ in range(10)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))') || return 1
  read -r -a ports <<<"$ports"
  for name in "${CLUSTER5_NODES[@]}"; do
    CLUSTER5_HTTP[$name]=${ports[i]}; CLUSTER5_MAIL[$name]=${ports[i + 1]}; i=$((i + 2))
    CLUSTER5_PID[$name]=""
  done
  cat >"$WORK/topology.json" <<JSON
{
  "version": 1,
  "epoch": 1,
  "data_centers": [
    {"name": "FL", "nodes": [
      {"name": "FL-A-1", "zone": "A", "address": "127.0.0.1:${CLUSTER5_MAIL[FL-A-1]}"},
      {"name": "FL-B-1", "zone": "B", "address": "127.0.0.1:${CLUSTER5_MAIL[FL-B-1]}"}]},
    {"name": "TN", "nodes": [{"name": "TN-A-1", "zone": "A", "address": "127.0.0.1:${CLUSTER5_MAIL[TN-A-1]}"}]},
    {"name": "TX", "nodes": [{"name": "TX-A-1", "zone": "A", "address": "127.0.0.1:${CLUSTER5_MAIL[TX-A-1]}"}]},
    {"name": "UT", "nodes": [{"name": "UT-A-1", "zone": "A", "address": "127.0.0.1:${CLUSTER5_MAIL[UT-A-1]}"}]}
  ],
  "home_rules": [{"prefix": "lg", "dc": "FL"}]
}
JSON
}

cluster5_url() { echo "http://127.0.0.1:${CLUSTER5_HTTP[$1]}"; }

cluster5_start() {
  local name config=()
  [ -n "${QUORUMD_CONFIG:-}" ] && config=(--config "$QUORUMD_CONFIG")
  # Replicated (writer + 4 followers, 3 of 5) unless REPLICATED=0 (one copy per key, hand-off).
  [ "${REPLICATED:-1}" = 1 ] && config+=(--replicated)
  for name in "$@"; do
    "$QUORUMD" --data "$WORK/data/$name" --http "127.0.0.1:${CLUSTER5_HTTP[$name]}" --name "$name" \
      --topology "$WORK/topology.json" --plugins "$PLUGINS" "${config[@]}" \
      >>"$WORK/$name.out" 2>>"$WORK/$name.log" &
    CLUSTER5_PID[$name]=$!
  done
  for name in "$@"; do
    local ok=0
    for _ in $(seq 600); do
      if curl -fs "$(cluster5_url "$name")/v1/health" >/dev/null 2>&1; then ok=1; break; fi
      kill -0 "${CLUSTER5_PID[$name]}" 2>/dev/null || break
      sleep 0.1
    done
    if [ $ok != 1 ]; then
      echo "$name did not start serving; log tail:" >&2; tail -n 20 "$WORK/$name.log" >&2
      return 1
    fi
  done
}

cluster5_kill() {
  local pid=${CLUSTER5_PID[$1]}
  [ -n "$pid" ] || return 0
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  CLUSTER5_PID[$1]=""
}

cluster5_stop_all() {
  local name pid
  for name in "${CLUSTER5_NODES[@]}"; do
    pid=${CLUSTER5_PID[$name]:-}
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done
  for name in "${CLUSTER5_NODES[@]}"; do
    pid=${CLUSTER5_PID[$name]:-}
    [ -n "$pid" ] || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    CLUSTER5_PID[$name]=""
  done
}
