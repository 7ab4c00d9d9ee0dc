#!/bin/bash
# Idle CPU of a local cluster (issue 4: "32 idle nodes ... a few percent of CPU").
# usage: tests/bench/idle_cluster.sh BUILD_DIR [--etcd]
#   starts 4 DCs x 8 nodes with `quorumctl cluster up` in a temp dir, lets it
#   settle (SETTLE seconds, default 10), then sums utime+stime of every quorumd
#   (and of etcd, reported apart) from /proc/PID/stat over WINDOW seconds
#   (default 30), prints CPU as % of one core, and takes the cluster down
#   (KEEP=1 keeps it). NODES_PER_DC overrides 8.
set -euo pipefail
B=${1:?usage: idle_cluster.sh BUILD_DIR [--etcd]}
shift
CTL=$B/host/quorumctl/quorumctl
D=$(mktemp -d /tmp/quorum-idle.XXXXXX)
cleanup() { [ -n "${KEEP:-}" ] || { "$CTL" cluster down --dir "$D" >/dev/null 2>&1 || true; rm -rf "$D"; }; }
trap cleanup EXIT
"$CTL" cluster up --dir "$D" --dcs FL,TN,TX,UT --nodes-per-dc "${NODES_PER_DC:-8}" --quorumd "$B/host/quorumd" "$@" \
  >"$D/up.log" 2>&1 || { echo "cluster up failed:"; tail "$D/up.log"; exit 1; }
sleep "${SETTLE:-10}"
pids=$(python3 -c "import json;d=json.load(open('$D/cluster.json'));print(' '.join(str(n['pid']) for n in d['nodes']))")
epid=$(python3 -c "import json;d=json.load(open('$D/cluster.json'));e=d.get('etcd');print(e['pid'] if e else '')")
ticks() { local t=0; for p in "$@"; do set -- $(cut -d')' -f2 "/proc/$p/stat"); t=$((t + ${12} + ${13})); done; echo $t; }
W=${WINDOW:-30}
# shellcheck disable=SC2086
a=$(ticks $pids); ea=0; [ -n "$epid" ] && ea=$(ticks $epid)
l0=$(cut -d' ' -f1 /proc/loadavg)
sleep "$W"
# shellcheck disable=SC2086
b=$(ticks $pids); eb=0; [ -n "$epid" ] && eb=$(ticks $epid)
l1=$(cut -d' ' -f1 /proc/loadavg)
HZ=$(getconf CLK_TCK)
rss=$(for p in $pids; do awk '/VmRSS/ {print $2}' "/proc/$p/status"; done | awk '{s+=$1} END {printf "%.0f", s/1024}')
echo "nodes: $(echo $pids | wc -w); quorumd CPU: $(python3 -c "print(round(($b-$a)/$HZ/$W*100,2))") % of one core over ${W}s;" \
  "RSS ${rss} MiB; etcd: $(python3 -c "print(round(($eb-$ea)/$HZ/$W*100,2))") %; load $l0 -> $l1"
