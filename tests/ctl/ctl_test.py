#!/usr/bin/env python3
"""quorumctl against a real quorumd: every subcommand, its output and exit code.

    ctl_test.py --quorumd PATH --quorumctl PATH [--plugins DIR] [unittest args]

Exit codes checked: 0 ok, 1 usage, 2 the server refused, 3 unreachable.
Standard library only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from quorumd_process import QuorumdProcess, free_port  # noqa: E402

ARGS = None


def ballot(choice, n=0):
    return {"CVRSnapshot": [{"@id": "s", "CVRContest": [{"ContestId": "mayor", "CVRContestSelection": [
        {"ContestSelectionId": choice, "SelectionPosition": [{"HasIndication": "yes", "NumberVotes": 1}]}]}]}],
        "CurrentSnapshotId": "s", "UniqueId": f"u{n}"}


class QuorumctlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="quorumctl-test-")
        cls.node = QuorumdProcess(ARGS.quorumd, cls.work, plugins=ARGS.plugins)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def ctl(self, *args, node=None, env=None, stdin=None, timeout=60):
        full_env = dict(os.environ)
        full_env.pop("QUORUM_TOKEN", None)
        full_env.pop("QUORUM_NODE", None)
        full_env.update(env or {})
        cmd = [ARGS.quorumctl, "--node", node or self.node.url, *args]
        r = subprocess.run(cmd, capture_output=True, text=True, env=full_env, input=stdin, timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def ok_json(self, *args, **kw):
        code, out, err = self.ctl("--json", *args, **kw)
        self.assertEqual(code, 0, f"{args}: {err}")
        return json.loads(out)

    # ---- status ----
    def test_status(self):
        code, out, err = self.ctl("status")
        self.assertEqual(code, 0, err)
        self.assertIn("serving", out)
        self.assertIn("actors active", out)
        status = self.ok_json("status")
        self.assertEqual(status["health"]["status"], "serving")
        self.assertIn("commits", status["metrics"])

    # ---- send / get / log ----
    def test_send_get_log(self):
        key = "e/ctl/precinct/p1"
        code, out, err = self.ctl("send", key, "--type", "cvr", "--id", "b-1", "--data", json.dumps(ballot("alice", 1)))
        self.assertEqual(code, 0, err)
        self.assertIn("committed", out)
        self.assertIn("seq 1", out)
        code, out, err = self.ctl("send", key, "--type", "cvr", "--id", "b-1", "--data", json.dumps(ballot("alice", 1)))
        self.assertEqual(code, 0, err)
        self.assertIn("duplicate", out)
        path = os.path.join(self.work, "ballot.json")
        with open(path, "w") as f:
            json.dump(ballot("bob", 2), f)
        receipt = self.ok_json("send", key, "--type", "cvr", "--id", "b-2", "--data", "@" + path)
        self.assertEqual(receipt["seq"], 2)
        self.assertFalse(receipt["duplicate"])
        self.assertEqual(len(receipt["hash"]), 64)

        code, out, err = self.ctl("get", key)
        self.assertEqual(code, 0, err)
        self.assertIn("seq   2", out)
        self.assertIn("== tally", out)
        view = self.ok_json("get", key)
        self.assertEqual(view["seq"], 2)
        self.assertEqual(view["head"], receipt["hash"])

        code, out, err = self.ctl("log", key)
        self.assertEqual(code, 0, err)
        lines = out.strip().splitlines()
        self.assertTrue(lines[0].startswith("seq"), out)
        self.assertEqual(len(lines), 3, out)
        self.assertIn("b-2", lines[2])
        log = self.ok_json("log", key, "--from", "2", "--limit", "1")
        self.assertEqual([e["seq"] for e in log["entries"]], [2])
        self.assertEqual(log["entries"][0]["id"], "b-2")

    def test_send_errors(self):
        code, _, err = self.ctl("send", "e/ctl/x", "--type", "cvr", "--data", "{not json")
        self.assertEqual(code, 1, err)
        self.assertIn("not valid JSON", err)
        code, _, err = self.ctl("send", "e/ctl/x", "--type", "cvr", "--data", "@/nonexistent/file")
        self.assertEqual(code, 1, err)
        code, _, err = self.ctl("send", "bad key!", "--type", "cvr", "--data", "{}")
        self.assertEqual(code, 2, err)
        self.assertIn("HTTP 400", err)
        code, _, err = self.ctl("send", "e/ctl/x", "--type", "BAD TYPE", "--data", "{}")
        self.assertEqual(code, 2, err)
        code, out, err = self.ctl("--json", "send", "e/ctl/x", "--type", "cvr", "--data", '{"CVRSnapshot": 5}')
        self.assertEqual(code, 2, err)
        self.assertEqual(json.loads(out)["status"], 422)
        code, _, err = self.ctl("send", "e/ctl/x")
        self.assertEqual(code, 1, err)

    def test_send_file(self):
        path = os.path.join(self.work, "batch.ndjson")
        with open(path, "w") as f:
            for n in range(2500):
                f.write(json.dumps({"key": f"e/ctl/batch/{n % 7}", "id": f"f-{n}", "type": "cvr",
                                    "data": ballot("carol", n)}) + "\n")
        summary = self.ok_json("send", "--file", path, "--batch", "1000")
        self.assertEqual(summary["commands"], 2500)
        self.assertEqual(summary["committed"], 2500)
        summary = self.ok_json("send", "--file", path, "--batch", "700")  # all retries
        self.assertEqual(summary["duplicates"], 2500)
        code, out, err = self.ctl("send", "--file", path)
        self.assertEqual(code, 0, err)
        self.assertIn("2500 commands: 0 committed, 2500 duplicates, 0 failed", out)
        bad = os.path.join(self.work, "bad.ndjson")
        with open(bad, "w") as f:
            f.write(json.dumps({"key": "e/ctl/batch/x", "id": "g-1", "type": "cvr", "data": ballot("dave")}) + "\n")
            f.write("{broken\n")
        code, out, err = self.ctl("--json", "send", "--file", bad)
        self.assertEqual(code, 2, err)
        summary = json.loads(out)
        self.assertEqual((summary["committed"], summary["failed"]), (1, 1))
        self.assertEqual(summary["errors"][0]["line"], 2)
        self.assertEqual(summary["errors"][0]["status"], 400)
        code, _, err = self.ctl("send", "--file", os.path.join(self.work, "missing.ndjson"))
        self.assertEqual(code, 1, err)
        code, out, err = self.ctl("--json", "send", "--file", "-",
                                  stdin=json.dumps({"key": "e/ctl/stdin", "id": "s-1", "type": "cvr",
                                                    "data": ballot("bob")}) + "\n")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["committed"], 1)

    def test_get_log_missing(self):
        code, out, err = self.ctl("get", "e/ctl/never")
        self.assertEqual(code, 2, err)
        self.assertIn("HTTP 404", err)
        code, out, err = self.ctl("--json", "get", "e/ctl/never")
        self.assertEqual(code, 2, err)
        self.assertEqual(json.loads(out)["status"], 404)

    # ---- tail ----
    def test_tail(self):
        prefix = "e/ctl/tail/"
        tail = subprocess.Popen([ARGS.quorumctl, "--node", self.node.url, "--json", "tail", "--prefix", prefix,
                                 "--count", "2", "--seconds", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(1.0)  # let it subscribe
        self.assertEqual(self.ctl("send", "e/ctl/other", "--type", "cvr", "--data", json.dumps(ballot("bob")))[0], 0)
        for n in range(2):
            self.assertEqual(self.ctl("send", prefix + "p1", "--type", "cvr", "--id", f"t-{n}",
                                      "--data", json.dumps(ballot("alice", n)))[0], 0)
        # The two events must arrive as they commit, not when the stream's
        # read buffer fills or --seconds runs out (a bug once held them).
        try:
            out, err = tail.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            tail.kill()
            tail.communicate()
            self.fail("tail did not print its 2 events within 15 s of their commit (--seconds is 30)")
        self.assertEqual(tail.returncode, 0, err)
        events = [json.loads(line) for line in out.strip().splitlines()]
        self.assertEqual([e["seq"] for e in events], [1, 2])
        self.assertTrue(all(e["key"] == prefix + "p1" for e in events))
        self.assertEqual(events[1]["id"], "t-1")

    # ---- plugins ----
    def test_plugins(self):
        code, out, err = self.ctl("plugin", "list")
        self.assertEqual(code, 0, err)
        self.assertIn("tally", out)
        self.assertIn("active", out)
        self.ok_json("plugin", "list")
        code, _, err = self.ctl("plugin", "swap", "nosuchplugin", "1")
        self.assertEqual(code, 2, err)
        self.assertIn("HTTP 404", err)
        code, _, err = self.ctl("plugin", "load", "tally", "/nonexistent/tally-9.9.9.so")
        self.assertEqual(code, 2, err)
        self.assertRegex(err, "HTTP 40[04]")
        not_a_library = os.path.join(self.work, "tally-9.9.9.so")
        with open(not_a_library, "w") as f:
            f.write("not a shared library\n")
        code, _, err = self.ctl("plugin", "load", "tally", not_a_library)
        self.assertEqual(code, 2, err)
        self.assertIn("HTTP 400", err)
        code, _, err = self.ctl("plugin")
        self.assertEqual(code, 1, err)
        so = os.path.join(ARGS.plugins or "", "tally-1.0.0.so")
        if not ARGS.plugins or not os.path.exists(so):
            self.skipTest("no built tally-1.0.0.so")
        loaded = self.ok_json("plugin", "load", "tally", so)
        self.assertEqual(loaded["semver"], "1.0.0")
        version = str(loaded["version"])
        code, out, err = self.ctl("plugin", "dark", "tally", version)
        self.assertEqual(code, 0, err)
        code, out, err = self.ctl("plugin", "divergences", "tally")
        self.assertEqual(code, 0, err)
        self.assertIn("divergence", out)
        self.assertEqual(self.ctl("plugin", "drop", "tally")[0], 0)
        code, out, err = self.ctl("plugin", "swap", "tally", version)
        self.assertEqual(code, 0, err)
        listing = json.dumps(self.ok_json("plugin", "list"))
        self.assertIn("1.0.0", listing)
        code, out, err = self.ctl("plugin", "rollback", "tally")
        self.assertEqual(code, 0, err)
        code, out, err = self.ctl("plugin", "promote", "tally")  # no candidate: refused
        self.assertEqual(code, 2, err)

    # ---- usage and reachability ----
    def test_usage_and_unreachable(self):
        self.assertEqual(self.ctl()[0], 1)
        self.assertEqual(self.ctl("frobnicate")[0], 1)
        self.assertEqual(self.ctl("--help")[0], 0)
        self.assertEqual(self.ctl("status", node="ftp://example")[0], 1)
        code, out, err = self.ctl("status", node=f"http://127.0.0.1:{free_port()}")
        self.assertEqual(code, 3, err)
        self.assertIn("Connection refused", err)
        code, out, err = self.ctl("--json", "get", "k", node=f"http://127.0.0.1:{free_port()}")
        self.assertEqual(code, 3, err)
        self.assertIn("error", json.loads(out))
        r = subprocess.run([ARGS.quorumctl, "status"], capture_output=True, text=True,
                           env={**os.environ, "QUORUM_NODE": self.node.url})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_token(self):
        secured = QuorumdProcess(ARGS.quorumd, self.work, plugins=ARGS.plugins, token="s3cret")
        try:
            args = ("send", "e/ctl/secure", "--type", "cvr", "--data", json.dumps(ballot("alice")))
            code, _, err = self.ctl(*args, node=secured.url)
            self.assertEqual(code, 2, err)
            self.assertIn("HTTP 401", err)
            self.assertIn("--token", err)
            code, _, err = self.ctl("--token", "wrong", *args, node=secured.url)
            self.assertEqual(code, 2, err)
            self.assertIn("HTTP 403", err)
            code, _, err = self.ctl("--token", "s3cret", *args, node=secured.url)
            self.assertEqual(code, 0, err)
            code, _, err = self.ctl(*args, node=secured.url, env={"QUORUM_TOKEN": "s3cret"})
            self.assertEqual(code, 0, err)
            code, _, err = self.ctl("get", "e/ctl/secure", node=secured.url)  # reads are public
            self.assertEqual(code, 0, err)
        finally:
            secured.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quorumd", required=True)
    parser.add_argument("--quorumctl", required=True)
    parser.add_argument("--plugins", default="")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], "-v", *rest])
