#!/usr/bin/env python3
"""quorumctl election load / ingest / close against a real quorumd.

    ingest_e2e_test.py --quorumd PATH --quorumctl PATH --plugins DIR --data DIR [unittest args]

Checks: load and re-load (idempotent), ingest of NIST CVRs, re-ingest is all
duplicates and changes no actor's seq, a corrupted record is reported as
FILE[#index] with exit 2 while the rest are ingested, close --all, an
unreachable node (exit 3), and the Dominion export: its sessions all land,
and an independent count here of the raw export's marks per candidate equals
the tally plugin's counts over the converted CVRs. Standard library only.
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from quorumd_process import QuorumdProcess, free_port  # noqa: E402

ARGS = None


def gen(name):
    return os.path.join(ARGS.data, "nist-cdf-test-method", name)


class IngestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="election-ingest-")
        cls.node = QuorumdProcess(ARGS.quorumd, cls.work, plugins=ARGS.plugins)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def ctl(self, *args, node=None):
        env = dict(os.environ)
        env.pop("QUORUM_TOKEN", None)
        env.pop("QUORUM_NODE", None)
        r = subprocess.run([ARGS.quorumctl, "--node", node or self.node.url, *args], capture_output=True, text=True,
                           env=env, timeout=120)
        return r.returncode, r.stdout, r.stderr

    def actor(self, key):
        url = f"{self.node.url}/v1/actors/{urllib.parse.quote(key, safe='')}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def log(self, key):
        url = f"{self.node.url}/v1/actors/{urllib.parse.quote(key, safe='')}/log?from=1&limit=1000"
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)["entries"]

    def seq(self, key):
        view = self.actor(key)
        return view["seq"] if view else 0

    def test_1_load_ingest_reingest_gen03(self):
        pe = os.path.join(gen("gen-03"), "pe-err-gen-03.json")
        code, out, err = self.ctl("election", "load", pe, "--id", "gen03")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.strip(), "election gen03: 7 units (2 precincts), 8 contests")
        # What landed: the registry entry, the definition, the directory, every unit's config.
        registry = self.log("elections")
        self.assertIn({"id": "gen03", "name": "GEN-03 General Election"}, [e["data"] for e in registry])
        definition = [e for e in self.log("election/gen03") if e["type"] == "definition"]
        self.assertEqual(len(definition), 1)
        self.assertEqual(definition[0]["data"]["leaves"], 2)
        self.assertEqual(definition[0]["data"]["top"], ["ru-county-3"])
        page = self.log("election/gen03/dir/0")[0]
        self.assertEqual(len(page["data"]["units"]), 7)
        config = self.log("election/gen03/unit/prec-ac")[0]
        self.assertEqual(config["type"], "configure")
        self.assertEqual(config["data"]["unit"]["parents"], ["ru-assembly-2", "ru-congress-2", "ru-county-3"])

        before = {k: self.seq(k) for k in ("elections", "election/gen03", "election/gen03/unit/prec-ac")}
        code, out, err = self.ctl("--json", "election", "load", pe, "--id", "gen03")
        self.assertEqual(code, 0, err)
        again = json.loads(out)
        self.assertEqual(again["committed"], 0)
        self.assertEqual(again["duplicates"], again["commands"])
        self.assertEqual({k: self.seq(k) for k in before}, before)

        cvr = os.path.join(gen("gen-03"), "cvr-gen-03.json")
        code, out, err = self.ctl("ingest", cvr, "--election", "gen03", "--batch", "3")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"ingested 20 ballots \(0 duplicates, 0 refused\) in [0-9.]+ s")
        self.assertIn("closed 2 precincts", out)
        leaves = ["election/gen03/unit/prec-ac", "election/gen03/unit/prec-fs-23"]
        ballots = sum(1 for k in leaves for e in self.log(k) if e["type"] == "cvr")
        self.assertEqual(ballots, 20)
        closes = [e for k in leaves for e in self.log(k) if e["type"] == "close"]
        self.assertEqual(len(closes), 2)
        seqs = {k: self.seq(k) for k in leaves}
        county = self.actor("election/gen03/unit/ru-county-3")
        if county and "election" in county["projections"]:  # with the election plugin (merged separately)
            value = county["projections"]["election"]["value"]
            self.assertEqual((value["ballots"], value["reported_leaves"]), (20, 2))

        code, out, err = self.ctl("ingest", cvr, "--election", "gen03", "--parallel", "2")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"ingested 20 ballots \(20 duplicates, 0 refused\)")
        self.assertEqual({k: self.seq(k) for k in leaves}, seqs)

        code, out, err = self.ctl("--json", "ingest", cvr, "--election", "gen03", "--no-close")
        self.assertEqual(code, 0, err)
        summary = json.loads(out)
        self.assertEqual((summary["committed"], summary["duplicates"], summary["refused"]), (0, 20, 0))
        self.assertEqual({k: self.seq(k) for k in leaves}, seqs)

        code, out, err = self.ctl("election", "close", "gen03", "--all")
        self.assertEqual(code, 0, err)
        self.assertIn("closed 0 of 2 precincts of gen03 (2 already closed, 0 refused)", out)
        self.assertEqual({k: self.seq(k) for k in leaves}, seqs)

    def test_2_corrupted_record_is_reported_and_the_rest_go_on(self):
        code, _, err = self.ctl("election", "load", os.path.join(gen("gen-01"), "pe-err-gen-01.json"), "--id", "gen01")
        self.assertEqual(code, 0, err)
        with open(os.path.join(gen("gen-01"), "cvr-gen-01.json")) as f:
            report = json.load(f)
        report["CVR"][3] = 17
        report["CVR"][9]["CVRSnapshot"] = "none"
        path = os.path.join(self.work, "cvr-bad.json")
        with open(path, "w") as f:
            json.dump(report, f)
        started = time.monotonic()
        code, out, err = self.ctl("ingest", path, "--election", "gen01", "--rate", "100")
        elapsed = time.monotonic() - started
        self.assertEqual(code, 2, err)
        self.assertGreaterEqual(elapsed, 0.3)  # 38 ballots at 100/s in batches of 10: the last is due at 0.38 s
        self.assertIn(f"{path}[#3]: the CVR is not an object", err)
        self.assertIn(f"{path}[#9]:", err)
        self.assertRegex(out, r"ingested 38 ballots \(0 duplicates, 2 refused\)")
        self.assertIn("closed 4 precincts", out)

    def test_3_dominion_marks_equal_the_tally_of_the_converted_cvrs(self):
        directory = os.path.join(ARGS.data, "dominion-sf-2020")
        code, out, err = self.ctl("election", "load", directory, "--id", "sf2020")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.strip(), "election sf2020: 610 units (609 precincts), 42 contests")
        export = os.path.join(directory, "CvrExport_24940.json")
        code, out, err = self.ctl("ingest", export, "--election", "sf2020")
        self.assertEqual(code, 0, err)
        with open(export) as f:
            sessions = json.load(f)["Sessions"]
        self.assertRegex(out, rf"ingested {len(sessions)} ballots \(0 duplicates, 0 refused\)")

        # Independent count: votes per (contest, candidate) in each session's current card set.
        expected = collections.Counter()
        portions = set()
        for session in sessions:
            current = session["Modified"] if session.get("Modified", {}).get("IsCurrent") else session["Original"]
            portions.add(str(current["PrecinctPortionId"]))
            for card in current["Cards"]:
                for contest in card["Contests"]:
                    for mark in contest["Marks"]:
                        if mark["IsVote"]:
                            expected[(str(contest["Id"]), str(mark["CandidateId"]))] += 1
        counted = collections.Counter()
        ballots = 0
        for portion in portions:
            view = self.actor(f"election/sf2020/unit/{portion}")
            tally = view["projections"]["tally"]["value"]
            ballots += tally["ballots"]
            for cid, contest in tally["contests"].items():
                for sid, votes in contest["selections"].items():
                    if votes:
                        counted[(cid, sid)] += votes
        self.assertEqual(ballots, len(sessions))
        self.assertTrue(expected)
        self.assertEqual(counted, expected)

    def test_4_many_files_and_a_bad_one_sends_nothing(self):
        code, _, err = self.ctl("election", "load", os.path.join(gen("gen-03"), "pe-err-gen-03.json"), "--id", "two")
        self.assertEqual(code, 0, err)
        with open(os.path.join(gen("gen-03"), "cvr-gen-03.json")) as f:
            report = json.load(f)
        paths = []
        for part, cvrs in enumerate((report["CVR"][:7], report["CVR"][7:])):
            paths.append(os.path.join(self.work, f"part-{part}.json"))
            with open(paths[-1], "w") as f:
                json.dump({**report, "CVR": cvrs}, f)
        broken = os.path.join(self.work, "broken.json")
        with open(broken, "w") as f:
            f.write('{"CVR": [{}, ')
        leaves = ["election/two/unit/prec-ac", "election/two/unit/prec-fs-23"]
        seqs = {k: self.seq(k) for k in leaves}
        code, _, err = self.ctl("ingest", paths[0], broken, "--election", "two")
        self.assertEqual(code, 1, err)
        self.assertIn("broken.json: not valid JSON", err)
        self.assertEqual({k: self.seq(k) for k in leaves}, seqs)  # nothing was sent
        code, out, err = self.ctl("ingest", *paths, "--election", "two", "--batch", "4", "--no-close")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"ingested 20 ballots \(0 duplicates, 0 refused\)")
        self.assertNotIn("closed", out)
        self.assertEqual([e for k in leaves for e in self.log(k) if e["type"] == "close"], [])
        code, out, err = self.ctl("election", "close", "two", "prec-ac")
        self.assertEqual(code, 0, err)
        self.assertIn("closed 1 of 1 precincts of two", out)
        closes = [e for e in self.log("election/two/unit/prec-ac") if e["type"] == "close"]
        self.assertEqual([(e["id"], e["data"]) for e in closes],
                         [("close/two/prec-ac", {"election": "two", "unit": "prec-ac"})])

    def test_5_a_different_definition_under_a_loaded_id(self):
        with urllib.request.urlopen(self.node.url + "/v1/plugins", timeout=10) as r:
            plugins = [slot["name"] for slot in json.load(r)["plugins"]]
        code, _, err = self.ctl("election", "load", os.path.join(gen("gen-03"), "pe-err-gen-03.json"), "--id", "same")
        self.assertEqual(code, 0, err)
        code, _, err = self.ctl("election", "load", os.path.join(gen("gen-01"), "pe-err-gen-01.json"), "--id", "same")
        if "election" not in plugins:
            self.assertEqual(code, 0, err)  # no handler refuses: the node takes any command
            return
        self.assertEqual(code, 2, err)
        self.assertIn("already defined with a different definition", err)
        self.assertIn("the node refused", err)

    def test_6_usage_and_unreachable(self):
        code, _, err = self.ctl("ingest", "/no/such/file.json", "--election", "x")
        self.assertEqual(code, 1)
        self.assertIn("/no/such/file.json", err)
        code, _, err = self.ctl("election", "load", "/no/such/pe-err.json")
        self.assertEqual(code, 1)
        code, _, err = self.ctl("election", "close", "gen03")
        self.assertEqual(code, 1)
        code, _, err = self.ctl("election", "close", "never-loaded", "--all")
        self.assertEqual(code, 2, err)
        self.assertIn("load the election first", err)
        dead = f"http://127.0.0.1:{free_port()}"
        code, _, err = self.ctl("ingest", os.path.join(gen("gen-03"), "cvr-gen-03.json"), "--election", "gen03",
                                node=dead)
        self.assertEqual(code, 3, err)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quorumd", required=True)
    parser.add_argument("--quorumctl", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--data", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest])
