#!/usr/bin/env python3
"""API tests against a real quorumd process (ctest label: api).

Starts `quorumd --data <tmp> --http 127.0.0.1:0`, waits for the line
`quorumd <name> serving on http://HOST:PORT`, and exercises every endpoint of
docs/api.md over real TCP: commands (JSON, msgpack, NDJSON and msgpack
batches), reads, the live stream, health, metrics, the plugin operations, and
every bad-input case with its status; then restarts the node on the same data
directory (data and idempotency survive) and restarts it with a token file
(401/403 on writes, reads public).

  python3 tests/api/api_test.py --quorumd build/host/quorumd --plugins build/plugins
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

ARGS = None


def mp(v):
    """A tiny msgpack encoder (the standard library has none)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(v, list):
        return b"\xdd" + struct.pack(">I", len(v)) + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        return b"\xdf" + struct.pack(">I", len(v)) + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(type(v))


class Node:
    """One quorumd process."""

    def __init__(self, data, extra=()):
        self.data = data
        cmd = [ARGS.quorumd, "--data", data, "--http", "127.0.0.1:0", "--name", "api-1",
               "--plugins", ARGS.plugins, *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr_lines = []
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.time() + 60
        self.url = None
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.match(r"quorumd (\S+) serving on (http://[\d.]+:\d+)", line.strip())
            if m:
                self.name, self.url = m.group(1), m.group(2)
                break
        if not self.url:
            self.proc.kill()
            raise RuntimeError("quorumd did not start: " + "".join(self.stderr_lines[-20:]))
        self.port = int(self.url.rsplit(":", 1)[1])

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self.proc.stdout.close()

    def request(self, method, path, body=None, content_type="application/json", headers=None):
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None and content_type:
            req.add_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.status, dict(res.headers), res.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, content_type="application/json", headers=None):
        return self.request("POST", path, body if body is not None else b"", content_type, headers)


def js(answer):
    return json.loads(answer[2])


def key_path(key):
    return urllib.parse.quote(key, safe="")


def sample_cvr():
    path = os.path.join(ARGS.data_dir, "nist-cdf-test-method", "gen-01", "cvr-gen-01.json")
    try:
        with open(path) as f:
            return json.load(f)["CVR"][0]
    except Exception:
        return {"CVRSnapshot": [], "CurrentSnapshotId": "x"}


class QuorumdApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="quorum-api-")
        cls.data = os.path.join(cls.tmp, "node")
        cls.node = Node(cls.data)

    @classmethod
    def tearDownClass(cls):
        if cls.node:
            cls.node.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def check_error(self, answer, status, fragment=""):
        self.assertEqual(answer[0], status, answer[2][:300])
        body = json.loads(answer[2])
        self.assertIn("error", body)
        self.assertIn(fragment, body["error"])

    # --- the tests run in name order; test_9* restart the node
    def test_10_health_and_metrics(self):
        h = self.node.get("/v1/health")
        self.assertEqual(h[0], 200)
        self.assertEqual(js(h)["status"], "serving")
        self.assertEqual(js(h)["node"], "api-1")
        m = self.node.get("/metrics")
        self.assertEqual(m[0], 200)
        self.assertIn("text/plain", m[1]["Content-Type"])
        self.assertIn(b"quorum_http_requests_total", m[2])

    def test_11_shipped_plugins_are_active(self):
        p = js(self.node.get("/v1/plugins"))["plugins"]
        names = [s["name"] for s in p]
        for name in ("tally", "rcv", "audit", "projections", "election"):
            self.assertIn(name, names)
        for s in p:
            self.assertIsNotNone(s["active"], s)

    def test_20_submit_json_and_duplicate(self):
        key = "e/api/precinct/p1"
        body = {"id": "ballot-1", "type": "cvr", "data": sample_cvr()}
        a = self.node.post("/v1/actors/%s/commands" % key_path(key), body)
        self.assertEqual(a[0], 200, a[2])
        r = js(a)
        self.assertEqual(r["key"], key)
        self.assertEqual(r["seq"], 1)
        self.assertEqual(len(r["hash"]), 64)
        self.assertFalse(r["duplicate"])
        b = js(self.node.post("/v1/actors/%s/commands" % key_path(key), body))
        self.assertTrue(b["duplicate"])
        self.assertEqual((b["seq"], b["hash"]), (r["seq"], r["hash"]))

    def test_21_submit_msgpack(self):
        key = "e/api/precinct/p2"
        a = self.node.post("/v1/actors/%s/commands" % key_path(key),
                           mp({"id": "ballot-m1", "type": "cvr", "data": sample_cvr()}), "application/msgpack")
        self.assertEqual(a[0], 200, a[2])
        self.assertEqual(js(a)["seq"], 1)

    def test_22_batches(self):
        lines = [json.dumps({"key": "e/api/precinct/b%d" % (i % 3), "id": "nd-%d" % i, "type": "cvr",
                             "data": sample_cvr()}) for i in range(9)]
        lines.insert(4, "{not json")
        a = self.node.post("/v1/commands", "\n".join(lines) + "\n", "application/x-ndjson")
        self.assertEqual(a[0], 200, a[2])
        results = js(a)["results"]
        self.assertEqual(len(results), 10)
        self.assertEqual(results[4]["status"], 400)
        self.assertTrue(all("seq" in r for i, r in enumerate(results) if i != 4), results)
        nd = self.node.post("/v1/commands", "\n".join(lines[:2]), "application/x-ndjson",
                            {"Accept": "application/x-ndjson"})
        self.assertEqual(nd[0], 200)
        out = [json.loads(x) for x in nd[2].decode().splitlines()]
        self.assertEqual(len(out), 2)
        self.assertTrue(out[0]["duplicate"])
        m = self.node.post("/v1/commands", mp([{"key": "e/api/precinct/m", "id": "mb-1", "type": "cvr",
                                                 "data": sample_cvr()}, 42]), "application/msgpack")
        self.assertEqual(m[0], 200, m[2])
        self.assertEqual(js(m)["results"][0]["seq"], 1)
        self.assertEqual(js(m)["results"][1]["status"], 400)

    def test_23_handler_rejection_is_422(self):
        a = self.node.post("/v1/actors/e%2Fapi%2Fbad/commands", {"id": "r-1", "type": "cvr", "data": {"x": 1}})
        self.check_error(a, 422, "rejected")
        self.assertIn("CVRSnapshot", js(a)["error"])  # the handler's reason

    def test_30_read_actor_and_log(self):
        key = "e/api/precinct/p1"
        v = self.node.get("/v1/actors/" + key_path(key))
        self.assertEqual(v[0], 200, v[2])
        view = js(v)
        self.assertEqual(view["seq"], 1)
        self.assertEqual(len(view["head"]), 64)
        self.assertIn("tally", view["projections"])
        self.assertIn("value", view["projections"]["tally"])
        log = self.node.get("/v1/actors/%s/log?from=1&limit=10" % key_path(key))
        self.assertEqual(log[0], 200, log[2])
        entries = js(log)["entries"]
        self.assertEqual(len(entries), 1)
        e = entries[0]
        self.assertEqual((e["seq"], e["id"], e["type"]), (1, "ballot-1", "cvr"))
        self.assertEqual(e["hash"], view["head"])
        self.assertEqual(e["data"], sample_cvr())
        self.assertEqual(len(e["prev_hash"]), 64)

    def test_31_read_errors(self):
        self.check_error(self.node.get("/v1/actors/e%2Fnobody"), 404)
        self.check_error(self.node.get("/v1/actors/bad%20key"), 400, "key")
        self.check_error(self.node.get("/v1/actors/k/log?limit=5000"), 400, "limit")
        self.check_error(self.node.get("/v1/actors/k/log?from=0"), 400, "from")
        # A replica's own copy: only 'local', and only on a replicated node.
        self.check_error(self.node.get("/v1/actors/k/log?replica=other"), 400, "replica")
        self.check_error(self.node.get("/v1/actors/k/log?replica=local"), 400, "replicate")
        self.check_error(self.node.get("/v1/nothing"), 404, "no route")
        self.check_error(self.node.request("GET", "/v1/commands"), 405)
        self.check_error(self.node.request("DELETE", "/v1/actors/k"), 405)

    def test_32_bad_commands(self):
        path = "/v1/actors/e%2Fapi%2Fx/commands"
        self.check_error(self.node.post(path, "{oops"), 400, "malformed JSON")
        self.check_error(self.node.post(path, b"\xc1", "application/msgpack"), 400, "malformed msgpack")
        self.check_error(self.node.post(path, {"id": "x"}), 400, "missing field 'type'")
        self.check_error(self.node.post(path, {"type": "NOPE"}), 400, "type")
        self.check_error(self.node.post("/v1/actors/a%2F%2Fb/commands", {"type": "t"}), 400, "empty segment")
        self.check_error(self.node.post(path, {"type": "t"}, "text/plain"), 415, "Content-Type")
        self.check_error(self.node.post(path, {"type": "t", "data": "x" * 300000}), 413, "data")
        self.check_error(self.node.post("/v1/commands", "", "application/x-ndjson"), 400, "empty batch")
        # Nothing of it reached the log.
        self.check_error(self.node.get("/v1/actors/e%2Fapi%2Fx"), 404)

    def test_33_body_over_8mib_is_413(self):
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=10)
        s.sendall(b"POST /v1/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                  b"Content-Length: 9000000\r\n\r\n")
        reply = b""
        while b"}" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        s.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:200])
        self.assertIn(b"over the limit", reply)

    def test_40_stream(self):
        got = []
        ready = threading.Event()

        def listen():
            s = socket.create_connection(("127.0.0.1", self.node.port), timeout=20)
            s.sendall(b"GET /v1/stream?prefix=e%2Fstream%2F HTTP/1.1\r\nHost: x\r\n\r\n")
            buf = b""
            deadline = time.time() + 20
            while time.time() < deadline and b"event: commit" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
                if b"retry:" in buf:
                    ready.set()
                if b"event: commit" in buf:
                    while not buf.endswith(b"\n\n"):
                        buf += s.recv(4096)
            got.append(buf)
            s.close()

        t = threading.Thread(target=listen)
        t.start()
        self.assertTrue(ready.wait(20))
        time.sleep(0.3)  # the subscription is made right after the header is sent
        self.node.post("/v1/actors/e%2Fother/commands", {"id": "o-1", "type": "note"})
        a = self.node.post("/v1/actors/e%2Fstream%2Fp9/commands", {"id": "s-1", "type": "cvr", "data": sample_cvr()})
        self.assertEqual(a[0], 200, a[2])
        t.join(30)
        buf = got[0].decode()
        self.assertIn("text/event-stream", buf)
        self.assertIn("event: commit", buf)
        data = json.loads(buf.split("event: commit\ndata: ", 1)[1].split("\n", 1)[0])
        self.assertEqual(data["key"], "e/stream/p9")
        self.assertEqual(data["id"], "s-1")
        self.assertNotIn("e/other", buf)

    def test_50_plugins(self):
        plugins = js(self.node.get("/v1/plugins"))["plugins"]
        tally = next(s for s in plugins if s["name"] == "tally")
        active = tally["active"]
        v1 = os.path.join(ARGS.plugins, "tally-1.0.0.so")
        load = self.node.post("/v1/plugins/load", {"name": "tally", "path": v1})
        self.assertEqual(load[0], 200, load[2])
        loaded = js(load)
        self.assertEqual(loaded["semver"], "1.0.0")
        self.assertEqual(len(loaded["sha256"]), 64)
        vid = loaded["version"]
        dark = self.node.post("/v1/plugins/tally/dark", {"version": vid})
        self.assertEqual(dark[0], 200, dark[2])
        self.assertEqual(js(dark)["candidate"], vid)
        d = self.node.get("/v1/plugins/tally/divergences")
        self.assertEqual(d[0], 200, d[2])
        self.assertIn("divergences", js(d))
        drop = self.node.post("/v1/plugins/tally/drop")
        self.assertEqual(drop[0], 200, drop[2])
        self.assertIsNone(js(drop)["candidate"])
        self.assertEqual(js(self.node.post("/v1/plugins/tally/dark", {"version": vid}))["candidate"], vid)
        promote = self.node.post("/v1/plugins/tally/promote")
        self.assertEqual(promote[0], 200, promote[2])
        self.assertEqual(js(promote)["active"], vid)
        rollback = self.node.post("/v1/plugins/tally/rollback")
        self.assertEqual(rollback[0], 200, rollback[2])
        self.assertEqual(js(rollback)["active"], active)
        swap = self.node.post("/v1/plugins/tally/swap", {"version": vid})
        self.assertEqual(swap[0], 200, swap[2])
        self.assertEqual(js(swap)["active"], vid)
        back = self.node.post("/v1/plugins/tally/swap", {"version": active})
        self.assertEqual(js(back)["active"], active)
        self.check_error(self.node.post("/v1/plugins/nope/promote"), 404)
        self.check_error(self.node.get("/v1/plugins/nope/divergences"), 404)
        self.check_error(self.node.post("/v1/plugins/load", {"name": "tally", "path": "/nonexistent.so"}), 400)
        self.check_error(self.node.post("/v1/plugins/tally/swap", {"version": "x"}), 400)

    def test_90_restart_keeps_data_and_idempotency(self):
        cls = type(self)
        key = "e/api/precinct/p1"
        before = js(self.node.get("/v1/actors/" + key_path(key)))
        self.assertEqual(cls.node.stop(), 0)
        cls.node = None
        cls.node = Node(cls.data)
        after = js(cls.node.get("/v1/actors/" + key_path(key)))
        self.assertEqual((after["seq"], after["head"]), (before["seq"], before["head"]))
        again = js(cls.node.post("/v1/actors/%s/commands" % key_path(key),
                                 {"id": "ballot-1", "type": "cvr", "data": sample_cvr()}))
        self.assertTrue(again["duplicate"])
        self.assertEqual(again["seq"], 1)
        self.assertEqual(again["hash"], before["head"])
        new = js(cls.node.post("/v1/actors/%s/commands" % key_path(key),
                               {"id": "ballot-2", "type": "cvr", "data": sample_cvr()}))
        self.assertEqual(new["seq"], 2)
        self.assertFalse(new["duplicate"])

    def test_91_token(self):
        cls = type(self)
        self.assertEqual(cls.node.stop(), 0)
        cls.node = None
        token_file = os.path.join(cls.tmp, "token")
        with open(token_file, "w") as f:
            f.write("s3cret-token\n")
        cls.node = Node(cls.data, ["--token-file", token_file])
        path = "/v1/actors/e%2Fapi%2Ftok/commands"
        self.check_error(cls.node.post(path, {"type": "note"}), 401, "Bearer")
        self.check_error(cls.node.post(path, {"type": "note"}, headers={"Authorization": "Bearer wrong"}), 403)
        self.check_error(cls.node.post("/v1/plugins/tally/rollback"), 401)
        ok = cls.node.post(path, {"type": "note"}, headers={"Authorization": "Bearer s3cret-token"})
        self.assertEqual(ok[0], 200, ok[2])
        self.assertEqual(cls.node.get("/v1/actors/e%2Fapi%2Fprecinct%2Fp1")[0], 200)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--quorumd", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "..", "data"))
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], "-v", *rest])


if __name__ == "__main__":
    main()
