#!/usr/bin/env python3
"""quorumctl topology against a topology.json file and a real etcd.

    ctl_topology_test.py --quorumctl PATH --sample TOPOLOGY.json [--etcd PATH] [unittest args]

Checks show (text and --json), add-node, remove-node, drain, undrain, their
exit codes (0 ok, 1 usage, 2 refused, 3 unreachable) and that a refused edit
changes nothing. The etcd cases need the etcd binary (scripts/deps installs it).
Standard library only.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

ARGS = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ctl(*args):
    env = dict(os.environ)
    env.pop("QUORUM_ETCD", None)
    p = subprocess.run([ARGS.quorumctl, *args], capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr


class FileStore(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="topo-ctl-")
        self.path = os.path.join(self.work, "topology.json")
        shutil.copy(ARGS.sample, self.path)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def read(self):
        with open(self.path) as f:
            return f.read()

    def test_show(self):
        code, out, _ = ctl("topology", "show", "--file", self.path)
        self.assertEqual(code, 0)
        self.assertIn("topology epoch 1", out)
        self.assertIn("FL-A-1", out)
        self.assertIn("10.4.2.4:7400", out)
        self.assertIn("fallback order:", out)
        code, out, _ = ctl("topology", "show", "--file", self.path, "--json")
        self.assertEqual(code, 0)
        shown = json.loads(out)
        self.assertEqual(shown["epoch"], 1)
        self.assertEqual([dc["name"] for dc in shown["data_centers"]], ["FL", "TN", "TX", "UT"])
        self.assertEqual(len(shown["data_centers"][0]["nodes"]), 8)
        self.assertEqual(shown["data_centers"][0]["nodes"][0]["state"], "live")

    def test_edits(self):
        self.assertEqual(ctl("topology", "--file", self.path, "drain", "TN-B-2")[0], 0)
        code, out, _ = ctl("topology", "add-node", "TX-B-5", "--address", "10.3.2.5:7400", "--file", self.path,
                           "--json")
        self.assertEqual(code, 0, out)
        self.assertEqual(json.loads(out)["epoch"], 3)
        shown = json.loads(ctl("topology", "show", "--json", "--file", self.path)[1])
        nodes = {n["name"]: n for dc in shown["data_centers"] for n in dc["nodes"]}
        self.assertEqual(nodes["TN-B-2"]["state"], "drained")
        self.assertEqual(nodes["TX-B-5"]["zone"], "B")
        self.assertEqual(nodes["TX-B-5"]["address"], "10.3.2.5:7400")
        self.assertEqual(ctl("topology", "undrain", "TN-B-2", "--file", self.path)[0], 0)
        self.assertEqual(ctl("topology", "remove-node", "TX-B-5", "--file", self.path)[0], 0)
        shown = json.loads(ctl("topology", "show", "--json", "--file", self.path)[1])
        self.assertEqual(shown["epoch"], 5)
        nodes = {n["name"]: n for dc in shown["data_centers"] for n in dc["nodes"]}
        self.assertNotIn("TX-B-5", nodes)
        self.assertEqual(nodes["TN-B-2"]["state"], "live")

    def test_refusals_change_nothing(self):
        before = self.read()
        cases = [
            (["add-node", "FL-A-1", "--address", "10.9.9.9:1"], 2, "already exists"),
            (["add-node", "FL-A-9", "--address", "10.1.1.1:7400"], 2, "already used"),
            (["add-node", "fl-a-9", "--address", "10.9.9.9:1"], 1, "DC-ZONE-N"),
            (["add-node", "GA-A-1", "--address", "10.9.9.9:1"], 2, "no data center"),
            (["drain", "FL-A-99"], 2, "no node named"),
            (["remove-node", "XX-A-1"], 2, "no node named"),
        ]
        for args, expected, words in cases:
            code, _, err = ctl("topology", *args, "--file", self.path)
            self.assertEqual(code, expected, (args, err))
            self.assertIn(words, err)
        self.assertEqual(self.read(), before)
        self.assertEqual(ctl("topology", "show")[0], 1)  # neither --file nor --etcd
        self.assertEqual(ctl("topology", "show", "--file", os.path.join(self.work, "none.json"))[0], 1)


class EtcdStore(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not ARGS.etcd or not os.path.exists(ARGS.etcd):
            raise RuntimeError("etcd is not installed; run scripts/deps")
        cls.work = tempfile.mkdtemp(prefix="topo-ctl-etcd-")
        client, peer = free_port(), free_port()
        cls.url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        cls.log = open(os.path.join(cls.work, "etcd.log"), "wb")
        cls.proc = subprocess.Popen(
            [ARGS.etcd, "--name", "t", "--data-dir", os.path.join(cls.work, "data"),
             "--listen-client-urls", cls.url, "--advertise-client-urls", cls.url,
             "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster", f"t={peer_url}"], stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(cls.url + "/health", timeout=2) as r:
                    if json.load(r).get("health") == "true":
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("etcd did not become healthy")

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=20)
        cls.log.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def put(self, key, value, lease=None):
        body = {"key": base64.b64encode(key.encode()).decode(), "value": base64.b64encode(value.encode()).decode()}
        if lease:
            body["lease"] = lease
        req = urllib.request.Request(self.url + "/v3/kv/put", data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def test_show_and_edit(self):
        prefix = "/quorum/ctl/"
        code, _, err = ctl("topology", "show", "--etcd", self.url, "--prefix", prefix)
        self.assertEqual(code, 2)
        self.assertIn("seed", err)
        with open(ARGS.sample) as f:
            self.put(prefix + "topology", f.read())
        self.put(prefix + "alive/FL-A-1", "FL-A-1")
        code, out, _ = ctl("topology", "show", "--etcd", self.url, "--prefix", prefix, "--json")
        self.assertEqual(code, 0)
        nodes = {n["name"]: n for dc in json.loads(out)["data_centers"] for n in dc["nodes"]}
        self.assertEqual(nodes["FL-A-1"]["state"], "live")
        self.assertEqual(nodes["FL-A-2"]["state"], "down")
        self.assertEqual(ctl("topology", "drain", "FL-A-1", "--etcd", self.url, "--prefix", prefix)[0], 0)
        code, _, err = ctl("topology", "add-node", "UT-A-1", "--address", "1.2.3.4:5", "--etcd", self.url,
                           "--prefix", prefix)
        self.assertEqual(code, 2, err)
        code, out, _ = ctl("topology", "show", "--etcd", self.url, "--prefix", prefix)
        self.assertEqual(code, 0)
        self.assertIn("drained (up)", out)
        self.assertIn("topology epoch 2", out)

    def test_unreachable(self):
        port = free_port()
        code, _, err = ctl("topology", "drain", "FL-A-1", "--etcd", f"http://127.0.0.1:{port}")
        self.assertEqual(code, 3)
        self.assertIn("unreachable", err)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--quorumctl", required=True)
    parser.add_argument("--sample", required=True)
    parser.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
