#!/usr/bin/env python3
"""The live results page (GET /) in a real headless Chromium.

usage:
  results_page_test.py fixture SERVER_BIN OUT_DIR
      quorumd's HTTP front end over the hand-built results fixture
      (tests/election_results/fixture.hpp), advanced phase by phase through
      the server's stdin: the page must show each phase's numbers, live
      (Server-Sent Events, no reload).
  results_page_test.py quorumd QUORUMD_BIN PLUGIN_DIR ELECTION_PLUGIN_SRC OUT_DIR
      one real quorumd: the election is loaded and ballots ingested through
      the real commands (register, definition, units, configure, cvr,
      close; docs/election-actors.md), and the page must follow.

Screenshots go to OUT_DIR (results-<mode>-<phase>.png).
Needs Debian's chromium, chromium-driver and python3-selenium.
"""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request



def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1100,1500", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                            options=options)


def wait_for(what, predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last is True:
                return
        except Exception as e:  # the DOM is re-rendered under us: retry
            last = repr(e)
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last})")


class Page:
    def __init__(self, browser, url):
        self.b = browser
        self.b.get(url)

    def text(self, css):
        from selenium.webdriver.common.by import By
        return self.b.find_element(By.CSS_SELECTOR, css).text

    def votes(self, contest, selection):
        return self.text(f'section[data-contest="{contest}"] tr[data-selection="{selection}"] td[data-testid="votes"]')

    def reporting(self, contest):
        return self.text(f'section[data-contest="{contest}"] [data-testid="reporting"]')

    def expect(self, what, contest, votes, reporting, banner):
        def check():
            got = {sid: self.votes(contest, sid) for sid in votes}
            if got != votes:
                return f"votes {got}"
            if self.reporting(contest) != reporting:
                return f"reporting '{self.reporting(contest)}'"
            if banner not in self.text("#banner"):
                return f"banner '{self.text('#banner')}'"
            return True
        wait_for(what, check)

    def shot(self, out, name):
        path = os.path.join(out, name)
        self.b.save_screenshot(path)
        print(f"screenshot {path}")


def run_fixture(server_bin, out):
    proc = subprocess.Popen([server_bin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("port "), line
        url = f"http://127.0.0.1:{line.split()[1]}/"

        def phase(k):
            proc.stdin.write(f"phase {k}\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == f"phase {k}"

        browser = driver()
        try:
            page = Page(browser, url)
            page.expect("phase 0", "mayor", {"cs-alice": "0", "cs-bob": "0", "cs-wi": "0"},
                        "0 of 2 precincts reported", "Partial results: 0 of 2 precincts reported")
            assert "Demo County General, 2026" in page.text("#title")
            page.shot(out, "results-fixture-0.png")
            phase(1)
            page.expect("phase 1 (live, no reload)", "mayor", {"cs-alice": "2", "cs-bob": "1", "cs-wi": "0"},
                        "1 of 2 precincts reported", "Partial results: 1 of 2 precincts reported (50%)")
            assert "Elected after round 2: Carol Chen" in page.text('section[data-contest="council"]')
            assert "66.7%" in page.text('section[data-contest="mayor"] tr[data-selection="cs-alice"]')
            # A ranked-choice contest's bars show its latest round; eliminated: "out".
            page.expect("phase 1 council", "council", {"c1": "2", "c2": "1", "c3": "out"},
                        "1 of 2 precincts reported", "Partial results")
            assert "showing round 2" in page.text('section[data-contest="council"] [data-testid="caption"]')
            page.shot(out, "results-fixture-1.png")
            phase(2)
            page.expect("phase 2", "mayor", {"cs-alice": "2", "cs-bob": "2", "cs-wi": "1"},
                        "2 of 2 precincts reported", "All precincts reported: 2 of 2")
            page.expect("phase 2 measure", "prop-1", {"prop-1-yes": "1", "prop-1-no": "0"},
                        "2 of 2 precincts reported", "All precincts reported")
            assert "Elected after round 1: Dan Diaz" in page.text('section[data-contest="council"]')
            assert "equal the sum of their precincts" in page.text("#audit")
            page.shot(out, "results-fixture-2.png")
        finally:
            browser.quit()
    finally:
        proc.stdin.close()
        proc.wait(10)
    print("ok: the page follows the fixture through 3 phases")
    return 0


# --- against a real quorumd

EID = "browser-demo"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha16(data):
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def esc(segment):
    plain = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
    return "".join(c if c in plain else ":%02X" % b for c, b in ((chr(b), b) for b in segment.encode()))


def definition():
    sel = lambda i, n, c, p="", w=False: {"id": i, "name": n, "candidates": c, "party": p, "write_in": w}
    return {"id": EID, "name": "Browser Demo General", "date": "2026-11-03", "source": "nist",
            "units": 3, "leaves": 2, "pages": 1, "top": ["county"],
            "contests": [{"id": "mayor", "name": "Mayor", "kind": "candidate", "district": "county",
                          "votes_allowed": 1, "rcv": False, "ranks": 0,
                          "selections": [sel("cs-alice", "Alice Adams", ["can-alice"], "par-dem"),
                                         sel("cs-bob", "Bob Brown", ["can-bob"], "par-rep"),
                                         sel("cs-wi", "Write-in", [], "", True)]},
                         {"id": "council", "name": "City Council", "kind": "candidate", "district": "county",
                          "votes_allowed": 1, "rcv": True, "ranks": 3,
                          "selections": [sel("c1", "Carol Chen", ["can-c1"]), sel("c2", "Dan Diaz", ["can-c2"]),
                                         sel("c3", "Eve Evans", ["can-c3"])]}],
            "candidates": [{"id": "can-alice", "name": "Alice Adams", "party": "par-dem"},
                           {"id": "can-bob", "name": "Bob Brown", "party": "par-rep"},
                           {"id": "can-c1", "name": "Carol Chen", "party": ""},
                           {"id": "can-c2", "name": "Dan Diaz", "party": ""},
                           {"id": "can-c3", "name": "Eve Evans", "party": ""}],
            "parties": [{"id": "par-dem", "name": "Democratic", "abbreviation": "DEM"},
                        {"id": "par-rep", "name": "Republican", "abbreviation": "REP"}]}


def unit(uid, leaf):
    return {"id": uid, "name": {"county": "Demo County", "prec-a": "Precinct A", "prec-b": "Precinct B"}[uid],
            "type": "county" if not leaf else "precinct", "leaf": leaf,
            "parents": ["county"] if leaf else [], "leaves": 1 if leaf else 2,
            "contests": {"council": {"votes_allowed": 1, "rcv": True}, "mayor": {"votes_allowed": 1, "rcv": False}}}


def mark(selection, rank=None):
    position = {"@type": "CVR.SelectionPosition", "HasIndication": "yes", "NumberVotes": 1}
    if rank is not None:
        position["Rank"] = rank
    return {"@type": "CVR.CVRContestSelection", "ContestSelectionId": selection, "SelectionPosition": [position]}


def cvr(uid, n, choice, ranking):
    """A ballot: `choice` for mayor, `ranking` (selection ids, first choice first) for the council."""
    contests = [{"@type": "CVR.CVRContest", "ContestId": "mayor", "CVRContestSelection": [mark(choice)]},
                {"@type": "CVR.CVRContest", "ContestId": "council",
                 "CVRContestSelection": [mark(s, rank + 1) for rank, s in enumerate(ranking)]}]
    return {"@type": "CVR.CVR", "BallotStyleUnitId": uid, "UniqueId": f"{uid}-{n}", "CurrentSnapshotId": "s",
            "CVRSnapshot": [{"@id": "s", "@type": "CVR.CVRSnapshot", "Type": "original", "CVRContest": contests}]}


def post(url, commands):
    body = json.dumps(commands).encode()
    request = urllib.request.Request(url + "/v1/commands", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        results = json.load(r)["results"]
    bad = [r for r in results if "error" in r]
    assert not bad, bad


def check_formats(url, out):
    """The other formats of the finished election: nist-err validates against NIST's schema."""
    def fetch(fmt):
        with urllib.request.urlopen(f"{url}/v1/results?election={EID}&format={fmt}", timeout=30) as r:
            assert r.status == 200, (fmt, r.status)
            return r.read().decode()
    report = json.loads(fetch("nist-err"))
    with open(os.path.join(out, "results-quorumd-nist-err.json"), "w") as f:
        json.dump(report, f, indent=1)
    assert report["Status"] == "unofficial-complete", report["Status"]
    schema_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "schemas",
                               "NIST_V2_election_results_reporting.json")
    try:
        import jsonschema
        with open(schema_path) as f:
            errors = list(jsonschema.Draft4Validator(json.load(f)).iter_errors(report))
        assert not errors, [e.message for e in errors[:5]]
    except ImportError:
        print("note: python3-jsonschema missing; nist-err not validated")
    mayor = next(c for c in report["Election"][0]["Contest"] if c["@id"] == "mayor")
    bob = next(s for s in mayor["ContestSelection"] if s["@id"] == "cs-bob")
    assert {vc["GpUnitId"]: vc["Count"] for vc in bob["VoteCounts"]} == {"county": 3, "prec-a": 1, "prec-b": 2}, bob
    audit = json.loads(fetch("audit"))
    assert audit["ok"] and audit["units_checked"] == 1, audit
    assert fetch("csv").startswith("contest_id,contest_name,unit_id")
    ap = json.loads(fetch("ap"))
    assert ap["races"][0]["reportingUnits"][0]["precinctsReporting"] == 2, ap


def run_quorumd(quorumd, plugins, plugin_src, out):
    work = tempfile.mkdtemp(prefix="quorum-browser-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(os.path.join(work, "quorumd.log"), "wb")
    proc = subprocess.Popen([quorumd, "--data", os.path.join(work, "data"), "--http", f"127.0.0.1:{port}",
                             "--plugins", plugins], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "quorumd exited"
            try:
                urllib.request.urlopen(url + "/v1/health", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "quorumd not serving after 30 s"
                time.sleep(0.1)
        d = definition()
        page_data = {"election": EID, "page": 0, "units": [unit("county", False), unit("prec-a", True),
                                                           unit("prec-b", True)]}
        commands = [{"key": "elections", "id": f"register/{EID}", "type": "register",
                     "data": {"id": EID, "name": d["name"]}},
                    {"key": f"election/{EID}", "id": f"definition/{EID}/{sha16(d)}", "type": "definition", "data": d},
                    {"key": f"election/{EID}/dir/0", "id": f"units/{EID}/0/{sha16(page_data)}", "type": "units",
                     "data": page_data}]
        for uid, leaf in (("county", False), ("prec-a", True), ("prec-b", True)):
            data = {"election": EID, "unit": unit(uid, leaf)}
            commands.append({"key": f"election/{EID}/unit/{esc(uid)}",
                             "id": f"configure/{EID}/{esc(uid)}/{sha16(data)}", "type": "configure", "data": data})
        post(url, commands)
        browser = driver()
        try:
            page = Page(browser, url + f"/?election={EID}")
            page.expect("loaded", "mayor", {"cs-alice": "0", "cs-bob": "0", "cs-wi": "0"},
                        "0 of 2 precincts reported", "Partial results: 0 of 2")
            page.shot(out, "results-quorumd-0.png")

            def ballots(uid, choices):
                post(url, [{"key": f"election/{EID}/unit/{esc(uid)}", "id": f"cvr/{EID}/{esc(uid)}-{n}",
                            "type": "cvr", "data": cvr(uid, n, c, r)} for n, (c, r) in enumerate(choices)])

            def close(uid):
                post(url, [{"key": f"election/{EID}/unit/{esc(uid)}", "id": f"close/{EID}/{esc(uid)}",
                            "type": "close", "data": {}}])

            # Council round 1: 1-1-1, the tie eliminates the smallest id (c1,
            # rcv plugin rules); its ballot goes to c2, who wins round 2.
            ballots("prec-a", [("cs-alice", ["c1", "c2"]), ("cs-alice", ["c2", "c1"]), ("cs-bob", ["c3", "c1"])])
            close("prec-a")
            page.expect("prec-a counted", "mayor", {"cs-alice": "2", "cs-bob": "1", "cs-wi": "0"},
                        "1 of 2 precincts reported", "Partial results: 1 of 2")
            wait_for("council rounds (rcv plugin on the contest actor)",
                     lambda: "Elected after round 2: Dan Diaz" in page.text('section[data-contest="council"]')
                     or page.text('section[data-contest="council"]'))
            page.shot(out, "results-quorumd-1.png")
            ballots("prec-b", [("cs-bob", ["c2"]), ("cs-bob", ["c2", "c3"])])
            close("prec-b")
            page.expect("all counted", "mayor", {"cs-alice": "2", "cs-bob": "3", "cs-wi": "0"},
                        "2 of 2 precincts reported", "All precincts reported: 2 of 2")
            wait_for("council decided in round 1",
                     lambda: "Elected after round 1: Dan Diaz" in page.text('section[data-contest="council"]')
                     or page.text('section[data-contest="council"]'))
            page.shot(out, "results-quorumd-2.png")
        finally:
            browser.quit()
        check_formats(url, out)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    print("ok: the page follows a real quorumd through load, ingest and close")
    return 0


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        import selenium  # noqa: F401
    except ImportError:
        print("FAIL: python3-selenium is not installed (scripts/deps installs it)")
        return 1
    if mode == "fixture" and len(sys.argv) == 4:
        os.makedirs(sys.argv[3], exist_ok=True)
        return run_fixture(sys.argv[2], sys.argv[3])
    if mode == "quorumd" and len(sys.argv) == 6:
        os.makedirs(sys.argv[5], exist_ok=True)
        return run_quorumd(*sys.argv[2:6])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
