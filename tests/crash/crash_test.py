#!/usr/bin/env python3
"""Crash test: SIGKILL a loaded quorumd many times; nothing acknowledged is lost.

    crash_test.py --quorumd PATH [--kills 20] [--seed N] [--keys 8] [--workers 4]
                  [--max-seconds 110] [--plugins DIR] [--keep]

Starts a real quorumd on a temp data dir. Client threads submit commands with
unique ids over several keys (POST /v1/actors/{key}/commands) and record every
acknowledged {key, id, seq, hash}. At seeded random moments the node is killed
with SIGKILL and restarted on the same data dir. After each restart:

- every acknowledged command is in its actor's log exactly once, at the seq
  and with the hash it was acknowledged with (GET /v1/actors/{key}/log);
- seqs are 1, 2, ... without gaps, each prev_hash is the previous hash, and
  every hash is recomputed from the entry (docs/formats.md section 2):
  SHA-256(prev_hash || be64(seq) || be64(epoch) || body), body = canonical
  msgpack [time_ms, id, type, payload as bin], payload = the msgpack of the
  command data as quorumd encodes the JSON (maps sorted by key);
- no id appears twice in any log, and entries seen before a kill are
  unchanged after it (a durable log never changes);
- retrying acknowledged ids answers the original seq and hash, duplicate=true.

Prints the seed first (--seed replays the kill schedule) and at the end
`acked=N lost=0 duplicated=0 kills=K`; exits 1 on any violation.
Standard library only.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse


# ---- canonical msgpack (docs/formats.md 1.2; maps as nlohmann's to_msgpack: sorted keys) ----
def mp_int(v):
    if v >= 0:
        if v < 0x80:
            return bytes([v])
        for tag, fmt, bound in ((0xCC, ">B", 1 << 8), (0xCD, ">H", 1 << 16), (0xCE, ">I", 1 << 32), (0xCF, ">Q", 1 << 64)):
            if v < bound:
                return bytes([tag]) + struct.pack(fmt, v)
    if v >= -32:
        return struct.pack(">b", v)
    for tag, fmt, bound in ((0xD0, ">b", 1 << 7), (0xD1, ">h", 1 << 15), (0xD2, ">i", 1 << 31), (0xD3, ">q", 1 << 63)):
        if v >= -bound:
            return bytes([tag]) + struct.pack(fmt, v)
    raise ValueError("integer out of range")


def mp_str(s):
    b = s.encode()
    n = len(b)
    if n < 32:
        return bytes([0xA0 | n]) + b
    if n < 256:
        return b"\xd9" + bytes([n]) + b
    if n < 65536:
        return b"\xda" + struct.pack(">H", n) + b
    return b"\xdb" + struct.pack(">I", n) + b


def mp_bin(b):
    n = len(b)
    if n < 256:
        return b"\xc4" + bytes([n]) + b
    if n < 65536:
        return b"\xc5" + struct.pack(">H", n) + b
    return b"\xc6" + struct.pack(">I", n) + b


def mp_len(n, fix, tag16, tag32):
    if n < 16:
        return bytes([fix | n])
    if n < 65536:
        return bytes([tag16]) + struct.pack(">H", n)
    return bytes([tag32]) + struct.pack(">I", n)


def mp_value(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        return mp_int(v)
    if isinstance(v, str):
        return mp_str(v)
    if isinstance(v, list):
        return mp_len(len(v), 0x90, 0xDC, 0xDD) + b"".join(mp_value(x) for x in v)
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode())
        return mp_len(len(items), 0x80, 0xDE, 0xDF) + b"".join(mp_str(k) + mp_value(x) for k, x in items)
    raise ValueError(f"cannot encode {type(v)} (floats are not used by this test)")


def entry_hash(prev_hex, e):
    payload = mp_value(e["data"])
    body = b"\x94" + mp_int(e["time"]) + mp_str(e["id"]) + mp_str(e["type"]) + mp_bin(payload)
    h = hashlib.sha256(bytes.fromhex(prev_hex) + struct.pack(">QQ", e["seq"], e["epoch"]) + body)
    return h.hexdigest()


def ballot(n):
    choice = ("alice", "bob", "carol", "dave")[n % 4]
    return {"CVRSnapshot": [{"@id": "s", "CVRContest": [{"ContestId": "mayor", "CVRContestSelection": [
        {"ContestSelectionId": choice, "SelectionPosition": [{"HasIndication": "yes", "NumberVotes": 1}]}]}]}],
        "CurrentSnapshotId": "s", "UniqueId": f"u{n}"}


# ---- HTTP ----
class Api:
    def __init__(self, port, timeout=10):
        self.port = port
        self.timeout = timeout

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, (json.loads(data) if data else None)
        finally:
            conn.close()

    def submit(self, key, cid, n):
        return self.request("POST", f"/v1/actors/{urllib.parse.quote(key, safe='')}/commands",
                            {"id": cid, "type": "cvr", "data": ballot(n)})

    def log(self, key):
        entries, start = [], 1
        while True:
            status, body = self.request("GET", f"/v1/actors/{urllib.parse.quote(key, safe='')}/log?from={start}&limit=1000")
            if status == 404:
                return entries
            if status != 200:
                raise RuntimeError(f"log {key}: HTTP {status}: {body}")
            page = body["entries"]
            entries += page
            if len(page) < 1000:
                return entries
            start = page[-1]["seq"] + 1


class Node:
    def __init__(self, binary, data_dir, port, plugins, log_path):
        self.cmd = [binary, "--data", data_dir, "--http", f"127.0.0.1:{port}"]
        if plugins:
            self.cmd += ["--plugins", plugins]
        self.api = Api(port, timeout=5)
        self.log_path = log_path
        self.proc = None

    def start(self, timeout=30):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"quorumd exited with {self.proc.returncode}; see {self.log_path}")
            try:
                status, _ = self.api.request("GET", "/v1/health")
                if status == 200:
                    return time.monotonic() - (deadline - timeout)
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"quorumd not serving after {timeout} s; see {self.log_path}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if not self.log.closed:
            self.log.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quorumd", required=True)
    p.add_argument("--plugins", default="")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keys", type=int, default=8)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--min-run", type=float, default=0.3, help="seconds of load before a kill, at least")
    p.add_argument("--max-run", type=float, default=2.0, help="... at most")
    p.add_argument("--max-seconds", type=float, default=110, help="stop killing after this long")
    p.add_argument("--retries", type=int, default=20, help="acknowledged ids retried after each restart")
    p.add_argument("--keep", action="store_true", help="keep the data dir and log")
    args = p.parse_args()

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"seed={seed} (replay with --seed {seed})", flush=True)
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="quorum-crash-")
    node = Node(args.quorumd, os.path.join(work, "data"), free_port(), args.plugins, os.path.join(work, "quorumd.log"))
    keys = [f"crash/{seed}/precinct/{k}" for k in range(args.keys)]

    acked = {}  # id -> (key, seq, hash)
    acked_lock = threading.Lock()
    counter = iter(range(1 << 62))
    counter_lock = threading.Lock()
    running = threading.Event()
    stop = threading.Event()
    failures = []
    stats = {"errors": 0, "refused": {}}

    def worker():
        while not stop.is_set():
            if not running.wait(0.05):
                continue
            with counter_lock:
                n = next(counter)
            cid = f"c-{seed}-{n}"
            key = keys[n % len(keys)]
            try:
                status, body = node.api.submit(key, cid, n)
            except (OSError, http.client.HTTPException, ValueError):
                stats["errors"] += 1  # killed mid-request: not acknowledged
                time.sleep(0.01)
                continue
            if status == 200:
                if body.get("duplicate"):
                    failures.append(f"fresh id {cid} answered as a duplicate: {body}")
                with acked_lock:
                    acked[cid] = (key, body["seq"], body["hash"])
            else:
                stats["refused"][status] = stats["refused"].get(status, 0) + 1
                if status not in (503,):
                    failures.append(f"{cid}: HTTP {status}: {body}")
                time.sleep(0.01)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.workers)]
    for t in threads:
        t.start()

    seen = {}  # (key, seq) -> hash, from earlier verifications
    recovery_s = []

    def verify(round_no):
        problems = []
        with acked_lock:
            snapshot = dict(acked)
        by_key = {k: {} for k in keys}
        for cid, (key, seq, h) in snapshot.items():
            by_key[key][cid] = (seq, h)
        lost = duplicated = 0
        for key in keys:
            entries = node.api.log(key)
            prev = "0" * 64
            ids = {}
            for i, e in enumerate(entries, start=1):
                if e["seq"] != i:
                    problems.append(f"{key}: entry {i} has seq {e['seq']} (gap)")
                    break
                if e["prev_hash"] != prev:
                    problems.append(f"{key} seq {i}: prev_hash {e['prev_hash']} != previous hash {prev}")
                computed = entry_hash(prev, e)
                if computed != e["hash"]:
                    problems.append(f"{key} seq {i}: hash {e['hash']} but recomputed {computed}")
                old = seen.get((key, i))
                if old is not None and old != e["hash"]:
                    problems.append(f"{key} seq {i}: hash changed across a restart ({old} -> {e['hash']})")
                seen[(key, i)] = e["hash"]
                if e["id"] in ids:
                    duplicated += 1
                    problems.append(f"{key}: id {e['id']} at seq {ids[e['id']]} and {i}")
                ids[e["id"]] = i
                prev = e["hash"]
            for cid, (seq, h) in by_key[key].items():
                at = ids.get(cid)
                if at is None:
                    lost += 1
                    problems.append(f"LOST {key} {cid} (acknowledged seq {seq})")
                elif at != seq or entries[at - 1]["hash"] != h:
                    problems.append(f"{key} {cid}: acknowledged seq {seq} hash {h}, log has seq {at} "
                                    f"hash {entries[at - 1]['hash']}")
        sample = rng.sample(sorted(snapshot), min(args.retries, len(snapshot)))
        for cid in sample:
            key, seq, h = snapshot[cid]
            n = int(cid.rsplit("-", 1)[1])
            status, body = node.api.submit(key, cid, n)
            if status != 200 or not body.get("duplicate") or body.get("seq") != seq or body.get("hash") != h:
                duplicated += 0 if status == 200 and body.get("seq") == seq else 1
                problems.append(f"retry of {cid}: expected duplicate seq {seq} hash {h}, got HTTP {status} {body}")
        if problems:
            for line in problems[:50]:
                print(f"round {round_no}: {line}", file=sys.stderr)
        return lost, duplicated, problems

    start = time.monotonic()
    kills = 0
    lost_total = dup_total = 0
    try:
        node.start()
        while kills < args.kills and time.monotonic() - start < args.max_seconds:
            running.set()
            time.sleep(rng.uniform(args.min_run, args.max_run))
            node.kill()
            running.clear()
            kills += 1
            time.sleep(0.05)  # let in-flight client calls fail
            recovery_s.append(node.start())
            lost, dup, problems = verify(kills)
            lost_total += lost
            dup_total += dup
            failures.extend(problems)
            print(f"kill {kills}: acked={len(acked)} restart_to_serving={recovery_s[-1]:.2f}s "
                  f"client_errors={stats['errors']} problems={len(problems)}", flush=True)
            if failures:
                break
        stop.set()
        for t in threads:
            t.join(5)
        if not failures:
            lost, dup, problems = verify(kills + 1)
            lost_total += lost
            dup_total += dup
            failures.extend(problems)
    finally:
        stop.set()
        node.stop()
        if args.keep or failures:
            print(f"data dir and log kept in {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)

    refused = ",".join(f"{k}:{v}" for k, v in sorted(stats["refused"].items())) or "none"
    print(f"acked={len(acked)} lost={lost_total} duplicated={dup_total} kills={kills} "
          f"seconds={time.monotonic() - start:.1f} max_restart_s={max(recovery_s or [0]):.2f} refused={refused}")
    if kills == 0 or not acked:
        print("FAIL: no kills or nothing acknowledged", file=sys.stderr)
        return 1
    if failures:
        for line in failures[:20]:
            print(f"FAIL: {line}", file=sys.stderr)
        print(f"FAIL seed={seed}", file=sys.stderr)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
