#!/usr/bin/env python3
"""Fault test (label fault): a real 4-DC x 2-node quorumd cluster under ballot load,
SIGKILLs of single nodes and of a whole data center; nothing acknowledged is lost,
nothing is counted twice.

    fault_test.py --quorumd PATH --plugins DIR [--keep]

    environment (all optional):
      QUORUM_FAULT_SEED=N      replay a run: victims, kill times, down times, ballots, routes
      QUORUM_FAULT_SECONDS=60  seconds of load (the kill schedule scales with it)
      QUORUM_FAULT_RATE=200    new ballots per second
      QUORUM_FAULT_KEYS=40     precinct keys
      QUORUM_FAULT_NO_DC=1     single-node kills only (no whole-DC phase)
      QUORUM_FAULT_DOWN=0.5,6  a killed single node stays down uniform(a, b) seconds
      QUORUM_FAULT_MIN_ACKED   fail below this many acknowledgements (default min(1000, rate*seconds/10))
      QUORUM_FAULT_UNREPLICATED=1  one copy per key (no --replicated): the test then fails

    ctest --test-dir build/release -L fault --output-on-failure
    QUORUM_FAULT_SEED=1234 ctest --test-dir build/release -L fault -V      # replay

Eight quorumd processes (FL, TN, TX, UT; zones A and B) run with the embedded topology store
(one topology.json, as tests/cluster_routing does), each on its own data dir; a killed node
restarts on the same dir, HTTP port and mailroom address. An asyncio client submits ballots
(`cvr` commands for the tally handler, ~200 bytes, unique ids) at a steady rate over the
precinct keys, each to a random node (any node routes to the key's writer). Every answer
200 {key, seq, hash} is recorded; a failure (connection refused or reset, timeout, 503) is
retried with the SAME id, to random nodes, until answered. Meanwhile the schedule (drawn from
the seed and printed) kills random single nodes with SIGKILL and restarts them after a short
time, one at a time, then kills both nodes of one data center, keeps the load going, and
brings the data center back.

At the end the load stops, every outstanding id is retried until answered, the cluster
settles, a sample of acknowledged ids is retried (each must answer its original receipt,
duplicate=true), and every key's log is read (through a random node, paged) and checked:

- every acknowledged id is in its key's log exactly once, at the acknowledged seq with the
  acknowledged hash (else it counts as lost);
- no id appears twice anywhere, and no id was answered with two different receipts (a
  conflict: applied twice, on two forks of a log); both count as duplicated;
- seqs are 1, 2, ... without gaps, each prev_hash is the previous hash and every hash is
  recomputed from the entry (docs/formats.md section 2; tests/crash/crash_test.py);
- the same log is served through a second node;
- the tally projection (GET /v1/actors/{key}) is at the log's seq and counts exactly the
  log's ballots, per selection;
- replica agreement, when nodes serve their own copy (GET /v1/actors/{key}/log?replica=local,
  the replication API): every copy is a prefix of the served log and every acknowledged
  entry is held by at least 3 copies. Skipped, with a note, while the endpoint answers 400/404.

Prints the seed first and exactly one summary line `acked=N lost=L duplicated=D`; exits 1
unless L == 0, D == 0, every check passes and N reaches the minimum. A failing run keeps its
work dir (stores and logs) and names it. About 65 s with the defaults. Standard library only.

The nodes run replicated (quorumd --replicated: every key on its writer and four followers,
answered once 3 of 5 hold it). QUORUM_FAULT_UNREPLICATED=1 runs them with one copy per key
(hand-off) instead: then a whole DC, or a node down longer than the failure timeout, has its
keys served from empty logs elsewhere, the copies fork, and the test fails (LOST/CONFLICT),
which shows what it catches.
"""
import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crash"))
from crash_test import entry_hash  # noqa: E402  (the hash rule of docs/formats.md, shared with the crash test)

DCS = ("FL", "TN", "TX", "UT")
CANDIDATES = ("alice", "bob", "carol", "dave")
REQUEST_TIMEOUT_S = 30.0  # above quorumd's cluster.request_timeout_ms (10 s): a routed request answers 503 first
MAX_IN_FLIGHT = 2000  # bound on client tasks (ids submitted and not yet answered)
LOG_PAGE = 1000
MAX_IDLE = 64  # idle keep-alive connections kept per node
# What a request to a killed or restarting node may raise; the client retries them.
NET_ERRORS = (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError)


def env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def ballot(rng, cid):
    """A NIST CVR the tally handler counts: one contest, one selection, ~200 bytes as JSON."""
    choice = CANDIDATES[rng.randrange(len(CANDIDATES))]
    return {"CVRSnapshot": [{"@id": "s", "CVRContest": [{"ContestId": "mayor", "CVRContestSelection": [
        {"ContestSelectionId": choice, "SelectionPosition": [{"HasIndication": "yes", "NumberVotes": 1}]}]}]}],
        "CurrentSnapshotId": "s", "UniqueId": cid}


def path_of(key, suffix=""):
    return f"/v1/actors/{urllib.parse.quote(key, safe='')}{suffix}"


# ---- a small asyncio HTTP/1.1 client with per-port keep-alive connections ----
class HttpError(OSError):
    pass


class Http:
    def __init__(self):
        self.idle = {}  # port -> [(reader, writer)], at most MAX_IDLE per port

    async def request(self, port, method, target, body=None, timeout=REQUEST_TIMEOUT_S):
        return await asyncio.wait_for(self._request(port, method, target, body), timeout)

    async def _request(self, port, method, target, body):
        pool = self.idle.setdefault(port, [])
        conn = pool.pop() if pool else None
        if conn is None:
            conn = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = conn
        ok = False
        try:
            data = b"" if body is None else json.dumps(body).encode()
            head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            if body is not None:
                head += "Content-Type: application/json\r\n"
            head += f"Content-Length: {len(data)}\r\n\r\n"
            writer.write(head.encode() + data)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                raise HttpError("connection closed")
            status = int(status_line.split()[1])
            length, close = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
                elif name == "transfer-encoding":
                    raise HttpError("chunked responses are not expected from quorumd")
            payload = await reader.readexactly(length) if length else b""
            ok = not close
            try:
                parsed = json.loads(payload) if payload else None
            except ValueError:
                parsed = {"raw": payload[:200].decode("latin-1")}
            return status, parsed
        finally:
            if ok and len(pool) < MAX_IDLE:
                pool.append(conn)
            else:
                writer.close()

    def drop(self, port):
        """Forgets the idle connections to a node (it was killed)."""
        for _, writer in self.idle.pop(port, []):
            writer.close()

    def close(self):
        for port in list(self.idle):
            self.drop(port)


# ---- the cluster ----
def free_ports(n):
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


class Node:
    def __init__(self, name, dc, work, quorumd, plugins, topology_file, http_port):
        self.name, self.dc = name, dc
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = http_port
        self.cmd = [quorumd, "--data", os.path.join(self.dir, "data"), "--http", f"127.0.0.1:{http_port}",
                    "--name", name, "--topology", topology_file, "--plugins", plugins, "--shards", "1"]
        if os.environ.get("QUORUM_FAULT_UNREPLICATED") != "1":
            self.cmd.append("--replicated")  # the product's mode; =1 shows what one copy per key loses
        self.log_path = os.path.join(self.dir, "quorumd.log")
        self.proc = None
        self.starts = 0

    def spawn(self):
        with open(self.log_path, "ab") as log:
            log.write(f"==== start {self.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


def write_topology(path, mailroom_ports):
    doc = {"version": 1, "epoch": 1, "data_centers": []}
    i = 0
    for dc in DCS:
        center = {"name": dc, "nodes": []}
        for zone in ("A", "B"):
            center["nodes"].append({"name": f"{dc}-{zone}-1", "zone": zone,
                                    "address": f"127.0.0.1:{mailroom_ports[i]}", "live": True})
            i += 1
        doc["data_centers"].append(center)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def make_schedule(rng, seconds, no_dc, down_range):
    """The fault plan, from the seed: [(at_s, action, victims, down_s)], one fault at a time."""
    plan = []
    t = rng.uniform(2.0, 4.0)
    single_until = seconds if no_dc else seconds * 0.5
    names = [f"{dc}-{zone}-1" for dc in DCS for zone in ("A", "B")]
    while t < single_until - 2.0:
        down = rng.uniform(*down_range)
        plan.append((round(t, 2), "kill", [rng.choice(names)], round(down, 2)))
        t += down + rng.uniform(1.5, 4.0)
    if not no_dc:
        t = max(t, seconds * 0.5)
        dc = rng.choice(DCS)
        down = rng.uniform(seconds * 0.15, seconds * 0.25)
        plan.append((round(t, 2), "kill-dc", [f"{dc}-A-1", f"{dc}-B-1"], round(down, 2)))
    return plan


class FaultTest:
    def __init__(self, args):
        self.args = args
        self.seed = int(os.environ["QUORUM_FAULT_SEED"]) if os.environ.get("QUORUM_FAULT_SEED") else \
            random.SystemRandom().randrange(1 << 32)
        self.seconds = env_float("QUORUM_FAULT_SECONDS", 60.0)
        self.rate = env_float("QUORUM_FAULT_RATE", 200.0)
        self.nkeys = int(env_float("QUORUM_FAULT_KEYS", 40))
        self.no_dc = os.environ.get("QUORUM_FAULT_NO_DC", "") not in ("", "0")
        down = os.environ.get("QUORUM_FAULT_DOWN", "0.5,6")
        self.down_range = tuple(float(x) for x in down.split(","))
        self.min_acked = int(env_float("QUORUM_FAULT_MIN_ACKED", min(1000, self.rate * self.seconds / 10)))
        rng = random.Random(self.seed)
        self.plan = make_schedule(rng, self.seconds, self.no_dc, self.down_range)
        self.verify_rng = random.Random(rng.random())
        self.keys = [f"e/fault-{self.seed}/precinct/{k}" for k in range(self.nkeys)]
        self.http = Http()
        self.nodes = []
        self.receipts = {}  # id -> (key, seq, hash): the first acknowledgement
        self.conflicts = []  # (id, first receipt, later receipt)
        self.problems = []
        self.kinds = {}  # problem counts by kind, for the failure line
        self.stats = {"submitted": 0, "attempts": 0, "retries": 0, "errors": 0, "status": {}, "first_ack_dup": 0}
        self.unanswered = set()

    def problem(self, text):
        self.problems.append(text)
        kind = text.split(" ", 1)[0]  # every message starts with its kind: LOST, DUPLICATE, CONFLICT, CHAIN, ...
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if len(self.problems) <= 40:
            print(f"problem: {text}", file=sys.stderr, flush=True)

    # ---- processes ----
    def setup(self):
        self.work = tempfile.mkdtemp(prefix="quorum-fault-")
        ports = free_ports(16)
        topology = os.path.join(self.work, "topology.json")
        write_topology(topology, ports[:8])
        i = 0
        for dc in DCS:
            for zone in ("A", "B"):
                self.nodes.append(Node(f"{dc}-{zone}-1", dc, self.work, self.args.quorumd, self.args.plugins,
                                       topology, ports[8 + i]))
                i += 1
        self.by_name = {n.name: n for n in self.nodes}

    async def wait_serving(self, node, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not node.alive():
                raise RuntimeError(f"{node.name} exited with {node.proc.returncode}:\n{node.tail()}")
            try:
                status, _ = await self.http.request(node.port, "GET", "/v1/health", timeout=5)
                if status == 200:
                    return
            except NET_ERRORS:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{node.name} not serving after {timeout} s:\n{node.tail()}")

    async def start_nodes(self, nodes):
        for n in nodes:
            n.spawn()
        for n in nodes:
            await self.wait_serving(n)

    # ---- load ----
    def make_ballot(self, n):
        """Ballot n: (id, key, data, rng), all from the seed; the rng goes on to pick its routes."""
        rng = random.Random(f"{self.seed}:{n}")
        cid = f"b-{self.seed}-{n}"
        key = self.keys[rng.randrange(len(self.keys))]
        data = ballot(rng, cid)
        return cid, key, data, rng

    async def submit_one(self, n):
        cid, key, data, rng = self.make_ballot(n)
        self.unanswered.add(cid)
        attempt = 0
        while True:
            node = self.nodes[rng.randrange(len(self.nodes))]
            self.stats["attempts"] += 1
            if attempt:
                self.stats["retries"] += 1
            attempt += 1
            try:
                status, body = await self.http.request(node.port, "POST", path_of(key, "/commands"),
                                                       {"id": cid, "type": "cvr", "data": data})
            except NET_ERRORS:
                self.stats["errors"] += 1
                status, body = None, None
            if status is not None:
                self.stats["status"][status] = self.stats["status"].get(status, 0) + 1
            if status == 200:
                if body.get("duplicate") and cid not in self.receipts:
                    self.stats["first_ack_dup"] += 1  # an earlier attempt was applied, its answer lost
                self.record(cid, key, body)
                self.unanswered.discard(cid)
                return
            if status not in (None, 503):
                self.problem(f"CLIENT {cid} via {node.name}: HTTP {status}: {body}")
                self.unanswered.discard(cid)
                return
            if time.monotonic() > self.give_up_at:
                return  # stays in self.unanswered: reported
            await asyncio.sleep(rng.uniform(0.1, 0.5 if attempt < 5 else 1.5))

    def record(self, cid, key, body):
        got = (body.get("key"), body.get("seq"), body.get("hash"))
        if got[0] != key:
            self.problem(f"CLIENT {cid}: acknowledged for key {got[0]}, submitted to {key}")
        first = self.receipts.get(cid)
        if first is None:
            self.receipts[cid] = got
        elif first != got:
            self.conflicts.append((cid, first, got))
            self.problem(f"CONFLICT {cid}: first acknowledged {first[1:]}, later answered {got[1:]}")

    async def load(self, until):
        tasks = set()
        n = 0
        start = time.monotonic()
        while time.monotonic() < until:
            due = int((time.monotonic() - start) * self.rate)
            while n < due and len(tasks) < MAX_IN_FLIGHT:
                t = asyncio.ensure_future(self.submit_one(n))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                n += 1
            await asyncio.sleep(0.01)
        self.stats["submitted"] = n
        return tasks

    # ---- faults ----
    async def run_plan(self, t0):
        for at, action, victims, down in self.plan:
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            for name in victims:
                node = self.by_name[name]
                if not node.alive():
                    self.problem(f"PROCESS {name} died on its own before its kill:\n{node.tail()}")
                node.kill()
                self.http.drop(node.port)
            print(f"t={time.monotonic() - t0:5.1f}s {action} {','.join(victims)} for {down:.1f}s "
                  f"(acked so far {len(self.receipts)})", flush=True)
            await asyncio.sleep(down)
            await self.start_nodes([self.by_name[v] for v in victims])
            print(f"t={time.monotonic() - t0:5.1f}s restarted {','.join(victims)}", flush=True)

    async def metric(self, node, name):
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", node.port), 5)
            writer.write("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            text = (await asyncio.wait_for(reader.read(), 10)).decode("utf-8", "replace")
            writer.close()
        except (OSError, asyncio.TimeoutError):
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    async def settle(self, timeout=30.0):
        """Waits until no node is acquiring or handing off keys (bounded; a timeout is only noted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = []
            for n in self.nodes:
                for m in ("quorum_router_acquiring", "quorum_router_handoffs_pending"):
                    v = await self.metric(n, m)
                    if v:
                        busy.append(f"{n.name}:{m}={v:g}")
            if not busy:
                return
            await asyncio.sleep(0.5)
        print(f"note: cluster still busy after {timeout:.0f} s: {' '.join(busy)}", flush=True)

    # ---- checks ----
    async def get(self, node, target, tries=20):
        for _ in range(tries):
            try:
                status, body = await self.http.request(node.port, "GET", target)
            except NET_ERRORS:
                status, body = None, None
            if status not in (None, 503):
                return status, body
            await asyncio.sleep(0.5)
        return status, body

    async def read_log(self, node, key, extra=""):
        """(status, entries) of key's log through node, every page."""
        entries, start = [], 1
        while True:
            status, body = await self.get(node, path_of(key, f"/log?from={start}&limit={LOG_PAGE}{extra}"))
            if status == 404 and not extra:
                return 200, entries
            if status != 200:
                return status, (body or {}).get("error", body)
            page = body["entries"]
            entries += page
            if len(page) < LOG_PAGE:
                return 200, entries
            start = page[-1]["seq"] + 1

    def check_chain(self, key, entries):
        prev = "0" * 64
        for i, e in enumerate(entries, start=1):
            if e["seq"] != i:
                self.problem(f"CHAIN {key}: entry {i} has seq {e['seq']} (gap)")
                return
            if e["prev_hash"] != prev:
                self.problem(f"CHAIN {key} seq {i}: prev_hash {e['prev_hash'][:16]} != previous hash {prev[:16]}")
            computed = entry_hash(prev, e)
            if computed != e["hash"]:
                self.problem(f"CHAIN {key} seq {i}: hash {e['hash'][:16]} but recomputed {computed[:16]}")
            prev = e["hash"]

    async def check_replicas(self, logs):
        """Replica agreement through GET .../log?replica=local on every node; skipped while unsupported."""
        # Supported if any node serves a copy of the first key (a 404 alone may mean "no copy here").
        answers = [await self.read_log(node, self.keys[0], "&replica=local") for node in self.nodes]
        if all(status in (400, 404) for status, _ in answers):
            status, detail = answers[0]
            print(f"note: replica agreement not checked: GET /v1/actors/{{key}}/log?replica=local answers "
                  f"{status} ({str(detail)[:100]}) on every node; replication is not served yet", flush=True)
            return
        for key in self.keys:
            served = logs[key]
            copies = {}
            for node in self.nodes:
                status, entries = await self.read_log(node, key, "&replica=local")
                if status in (400, 404):
                    continue  # this node holds no copy of key
                if status != 200:
                    self.problem(f"REPLICA {key}: replica read on {node.name}: HTTP {status}: {entries}")
                    continue
                agreeing = []  # the copy's entries up to its first disagreement with the served log
                for e in entries:
                    if e["seq"] > len(served) or served[e["seq"] - 1]["hash"] != e["hash"]:
                        self.problem(f"REPLICA {key}: {node.name}'s copy has seq {e['seq']} hash {e['hash'][:16]}, "
                                     "not in the served log (replicas disagree)")
                        break
                    agreeing.append(e)
                copies[node.name] = agreeing
            held = {}
            for entries in copies.values():
                for e in entries:
                    held[e["seq"]] = held.get(e["seq"], 0) + 1
            for cid, (k, seq, h) in self.receipts.items():
                if k == key and held.get(seq, 0) < 3:
                    self.problem(f"REPLICA {key}: acknowledged seq {seq} ({cid}) held by {held.get(seq, 0)} "
                                 "copies (< 3)")
        print(f"replica agreement checked over {len(self.keys)} keys", flush=True)

    async def verify(self):
        lost = changed = duplicated = 0
        # Retries of acknowledged ids: the original receipt, duplicate=true.
        sample = self.verify_rng.sample(sorted(self.receipts), min(300, len(self.receipts)))
        for cid in sample:
            key, seq, h = self.receipts[cid]
            _, _, data, _ = self.make_ballot(int(cid.rsplit("-", 1)[1]))
            node = self.nodes[self.verify_rng.randrange(len(self.nodes))]
            status, body = None, None
            for _ in range(20):
                try:
                    status, body = await self.http.request(
                        node.port, "POST", path_of(key, "/commands"),
                        {"id": cid, "type": "cvr", "data": data})
                except NET_ERRORS:
                    status = None
                if status not in (None, 503):
                    break
                await asyncio.sleep(0.5)
            if status == 200:
                if not body.get("duplicate"):
                    self.problem(f"RETRY of acknowledged {cid} answered duplicate=false: {body}")
                self.record(cid, key, body)
            else:
                self.problem(f"RETRY of acknowledged {cid}: HTTP {status}: {body}")
        # The logs.
        by_key = {k: [] for k in self.keys}
        for cid, (key, seq, h) in self.receipts.items():
            by_key.setdefault(key, []).append((cid, seq, h))
        logs = {}
        where = {}  # id -> (key, seq) of its first appearance in any log
        for key in self.keys:
            via = self.nodes[self.verify_rng.randrange(len(self.nodes))]
            status, entries = await self.read_log(via, key)
            if status != 200:
                self.problem(f"READ {key}: log through {via.name}: HTTP {status}: {entries}")
                entries = []
            logs[key] = entries
            self.check_chain(key, entries)
            other = self.nodes[(self.nodes.index(via) + 1 + self.verify_rng.randrange(len(self.nodes) - 1))
                               % len(self.nodes)]
            status2, entries2 = await self.read_log(other, key)
            if status2 != 200 or [e["hash"] for e in entries2] != [e["hash"] for e in entries]:
                self.problem(f"READ {key}: {via.name} serves {len(entries)} entries, {other.name} serves "
                             f"{len(entries2) if status2 == 200 else status2} (or other hashes)")
            ids = {}
            counts = {}
            for e in entries:
                if e["id"] in where:
                    duplicated += 1
                    self.problem(f"DUPLICATE {e['id']}: {where[e['id']]} and {(key, e['seq'])}")
                else:
                    where[e["id"]] = (key, e["seq"])
                    ids[e["id"]] = e["seq"]
                if e["type"] == "cvr":
                    sel = e["data"]["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["ContestSelectionId"]
                    counts[sel] = counts.get(sel, 0) + 1
            for cid, seq, h in by_key.get(key, []):
                at = ids.get(cid)
                if at is None:
                    lost += 1
                    self.problem(f"LOST {key} {cid} (acknowledged seq {seq})")
                elif at != seq or entries[at - 1]["hash"] != h:
                    lost += 1
                    changed += 1
                    self.problem(f"LOST {key} {cid}: acknowledged seq {seq} hash {h[:16]}, the log has it at seq "
                                 f"{at} hash {entries[at - 1]['hash'][:16]}")
            # The tally projection counts exactly the log's ballots.
            if not entries:
                continue
            status, view = await self.get(via, path_of(key))
            if status != 200:
                self.problem(f"PROJECTION {key}: GET actor through {via.name}: HTTP {status}: {view}")
                continue
            tally = view.get("projections", {}).get("tally", {}).get("value", {})
            selections = tally.get("contests", {}).get("mayor", {}).get("selections", {})
            expected = {c: counts.get(c, 0) for c in CANDIDATES}
            got = {c: selections.get(c, 0) for c in CANDIDATES}
            if view.get("seq") != len(entries) or tally.get("ballots") != sum(counts.values()) or got != expected:
                self.problem(f"PROJECTION {key}: projection at seq {view.get('seq')} ballots {tally.get('ballots')} "
                             f"{got}, log has {len(entries)} entries, {sum(counts.values())} ballots {expected}")
        duplicated += len({c for c, _, _ in self.conflicts})
        await self.check_replicas(logs)
        return lost, changed, duplicated, sum(len(v) for v in logs.values())

    async def run(self):
        self.setup()
        print(f"seed={self.seed} (replay: QUORUM_FAULT_SEED={self.seed}) seconds={self.seconds:g} "
              f"rate={self.rate:g}/s keys={self.nkeys} no_dc={int(self.no_dc)} down={self.down_range} "
              f"work={self.work}", flush=True)
        print("plan: " + "; ".join(f"t={at}s {a} {','.join(v)} {d}s" for at, a, v, d in self.plan), flush=True)
        await self.start_nodes(self.nodes)
        t0 = time.monotonic()
        self.give_up_at = t0 + self.seconds + 90.0  # outstanding ids are retried this long after the load
        plan = asyncio.ensure_future(self.run_plan(t0))
        tasks = await self.load(t0 + self.seconds)
        print(f"t={time.monotonic() - t0:5.1f}s load stopped: submitted={self.stats['submitted']} "
              f"acked={len(self.receipts)} outstanding={len(tasks)}", flush=True)
        await plan  # the last fault's node comes back
        for n in self.nodes:
            if not n.alive():
                self.problem(f"PROCESS {n.name} died on its own:\n{n.tail()}")
                n.spawn()
                await self.wait_serving(n)
        if tasks:
            await asyncio.wait(tasks)
        if self.unanswered:
            self.problem(f"CLIENT {len(self.unanswered)} ids never answered, e.g. {sorted(self.unanswered)[:5]}")
        print(f"t={time.monotonic() - t0:5.1f}s outstanding ids answered; settling", flush=True)
        await self.settle()
        # What the nodes noticed themselves (forked copies met in a hand-off), for the report only.
        noticed = [await self.metric(n, "quorum_router_handoff_conflicts_total") for n in self.nodes]
        lost, changed, duplicated, entries = await self.verify()
        self.http.close()
        for n in self.nodes:
            if not n.alive():
                self.problem(f"PROCESS {n.name} died on its own:\n{n.tail()}")
        statuses = ",".join(f"{k}:{v}" for k, v in sorted(self.stats["status"].items()))
        print(f"details: submitted={self.stats['submitted']} attempts={self.stats['attempts']} "
              f"retries={self.stats['retries']} client_errors={self.stats['errors']} statuses={statuses} "
              f"conflicts={len(self.conflicts)} lost_moved={changed} entries={entries} "
              f"first_acks_as_duplicate={self.stats['first_ack_dup']} "
              f"handoff_conflicts={sum(v or 0 for v in noticed):g} seconds={time.monotonic() - t0:.1f}", flush=True)
        print(f"acked={len(self.receipts)} lost={lost} duplicated={duplicated}", flush=True)
        failed = lost or duplicated or self.problems or len(self.receipts) < self.min_acked
        if len(self.receipts) < self.min_acked:
            print(f"FAIL: only {len(self.receipts)} acknowledgements (minimum {self.min_acked})", file=sys.stderr)
        if failed:
            kinds = " ".join(f"{k}={v}" for k, v in sorted(self.kinds.items()))
            print(f"FAIL: {len(self.problems)} problems ({kinds}); seed={self.seed} "
                  f"(QUORUM_FAULT_SEED={self.seed} replays); data and logs kept in {self.work}", file=sys.stderr)
            return 1
        print("PASS")
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quorumd", required=True)
    p.add_argument("--plugins", required=True)
    p.add_argument("--keep", action="store_true", help="keep the whole work dir (on failure: stores and logs only)")
    args = p.parse_args()
    test = FaultTest(args)
    rc = 1
    try:
        rc = asyncio.run(test.run())
    finally:
        for n in test.nodes:
            n.stop()
        if getattr(test, "work", None) and not args.keep:
            if rc == 0:
                shutil.rmtree(test.work, ignore_errors=True)
            else:  # keep the stores and logs for a post-mortem, not the 8 copies of the plugins
                for n in test.nodes:
                    shutil.rmtree(os.path.join(n.dir, "data", "plugin-cache"), ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
