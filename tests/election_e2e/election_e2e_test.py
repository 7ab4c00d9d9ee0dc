#!/usr/bin/env python3
"""End-to-end election tests (label election): a real replicated cluster, the whole path
file -> `quorumctl election load` -> `quorumctl ingest` -> roll-ups -> `quorumctl results`.

    election_e2e_test.py --quorumctl PATH --data DIR --schemas DIR --case gen-03|gen-01|dominion|synthetic [--keep]

Each case starts its own cluster with `quorumctl cluster up --replicated` (4 DCs x 2 nodes,
embedded topology, the quorumd beside quorumctl and the build's plugins), and stops it at the
end (`cluster down`, also on failure). The definition is loaded through one node, ballots are
ingested through another and results read through a third, so every step crosses the router.

gen-03, gen-01 (NIST test elections, tests/data/nist-cdf-test-method):
  - `election load pe-err-<case>.json`, `ingest cvr-<case>.json` (0 refused);
  - wait until every precinct reported and the export is stable;
  - `results --format nist-err`: validates against the NIST SP 1500-100 v2 schema, Status is
    unofficial-complete, and every VoteCounts Count and every OtherCounts figure of the
    certified err-<case>.json equals the export's (same contest, selection, GpUnitId);
  - `ingest` again: every ballot a duplicate, nothing refused, and the export is unchanged.
dominion (tests/data/dominion-sf-2020, a real Dominion 5.10 export):
  - `election load DIR --format dominion`, `ingest CvrExport_24940.json`, `election close --all`;
  - per contest and candidate, the results equal an independent reading of the same JSON
    written here (Sessions -> current of Original/Modified -> Cards -> Contests -> Marks with
    IsVote), matched by the manifests' names (contest Description, candidate Description).
synthetic (`quorumctl gen`, 24 precincts x 25 ballots in 3 CVR files):
  - load, ingest all files, wait until complete; every unit (precincts and every roll-up:
    counties, districts, the city, the state) has exactly the ballots, over/undervotes and
    selection votes of an independent tally of the files over the definition's
    ComposingGpUnitIds, and the ranked-choice contest's first round and winner equal an
    independent instant runoff; the NIST export validates and is unofficial-complete.

Standard library plus python3-jsonschema.
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
import urllib.parse
import urllib.request

STEP_TIMEOUT_S = 180
SETTLE_TIMEOUT_S = 90


class Failure(Exception):
    pass


def run(args, timeout=STEP_TIMEOUT_S, ok_codes=(0,)):
    """Runs a command; returns (code, stdout, stderr); raises Failure on an unexpected code."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if proc.returncode not in ok_codes:
        raise Failure(f"{' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout[-2000:]}\n"
                      f"stderr: {proc.stderr[-2000:]}")
    return proc.returncode, proc.stdout, proc.stderr


class Cluster:
    def __init__(self, quorumctl, work):
        self.quorumctl = quorumctl
        self.dir = os.path.join(work, "cluster")
        self.urls = []

    def __enter__(self):
        run([self.quorumctl, "cluster", "up", "--dir", self.dir, "--replicated"], timeout=180)
        with open(os.path.join(self.dir, "cluster.json")) as f:
            self.urls = [node["url"] for node in json.load(f)["nodes"]]
        if len(self.urls) != 8:
            raise Failure(f"expected 8 nodes, cluster.json names {len(self.urls)}")
        return self

    def __exit__(self, *exc):
        subprocess.run([self.quorumctl, "cluster", "down", "--dir", self.dir], capture_output=True, timeout=120)
        return False

    def ctl(self, node, *args, **kw):
        return run([self.quorumctl, "--node", self.urls[node % len(self.urls)], "--no-progress", *args], **kw)


def ingest_counts(stdout):
    """Parses `ingested N ballots (D duplicates, R refused) in S s`."""
    for line in stdout.splitlines():
        words = line.replace("(", " ").replace(")", " ").replace(",", " ").split()
        if len(words) >= 7 and words[0] == "ingested" and words[2] == "ballots":
            return int(words[1]), int(words[3]), int(words[5])
    raise Failure(f"no 'ingested N ballots (D duplicates, R refused)' line in: {stdout!r}")


def results(cluster, node, election, fmt):
    """`quorumctl results --format FMT` through node `node`."""
    _, out, _ = cluster.ctl(node, "results", "--election", election, "--format", fmt)
    return json.loads(out) if fmt in ("json", "nist-err", "audit") else out


def wait_complete(cluster, election):
    """Until every leaf reported and three exports a second apart have the same counts; returns
    the json summary and the last export."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    previous = None
    same = 0
    last = None
    while time.monotonic() < deadline:
        summary = results(cluster, 2, election, "json")
        reporting = summary.get("reporting", {})
        export = results(cluster, 3, election, "nist-err")
        complete = reporting.get("total", 0) > 0 and reporting.get("reported") == reporting.get("total")
        last = (reporting, summary.get("status"))
        # Roll-up deltas are effects and may still be arriving when the last precinct has reported:
        # wait for three equal exports (not GeneratedDate: it is the time of the export).
        counts = (err_counts(export), export.get("Status"), json.dumps(summary.get("contests"), sort_keys=True))
        same = same + 1 if complete and counts == previous else 0
        if same >= 2:
            return summary, export
        previous = counts if complete else None
        time.sleep(1.0)
    raise Failure(f"results did not settle in {SETTLE_TIMEOUT_S} s (last reporting/status: {last})")


def check_audit(cluster, election, case):
    """The audit export is clean, and every roll-up's own audit (the handler's) says balanced."""
    audit = results(cluster, 1, election, "audit")
    rollups = audit.get("units", [])
    if not audit.get("ok") or audit.get("differences"):
        raise Failure(f"{case}: the audit found differences: {audit.get('differences')}")
    unbalanced = [(u["id"], u.get("handler_audit")) for u in rollups if u.get("handler_audit") != "balanced"]
    if not rollups or unbalanced:
        raise Failure(f"{case}: roll-ups whose own audit is not balanced: {unbalanced or 'no roll-ups listed'}")
    print(f"{case}: audit ok, {len(rollups)} roll-ups balanced by their own audit")


def validate(instance, schema_path):
    import jsonschema  # python3-jsonschema (scripts/deps)
    with open(schema_path) as f:
        schema = json.load(f)
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        detail = "\n".join(f"  {list(e.path)}: {e.message[:300]}" for e in errors[:10])
        raise Failure(f"{len(errors)} schema errors against {os.path.basename(schema_path)}:\n{detail}")


def err_counts(report):
    """(contest, selection, gpunit) -> Count (Type 'total' when the unit has it, else the sum of
    its types), and (contest, gpunit) -> OtherCounts figures, from an ERR ElectionReport."""
    votes = {}
    others = {}
    for election in report.get("Election", []):
        for contest in election.get("Contest", []):
            cid = contest["@id"]
            for selection in contest.get("ContestSelection", []):
                by_unit = collections.defaultdict(dict)
                for count in selection.get("VoteCounts", []):
                    by_unit[count["GpUnitId"]][count.get("Type", "total")] = \
                        by_unit[count["GpUnitId"]].get(count.get("Type", "total"), 0) + count["Count"]
                for unit, types in by_unit.items():
                    votes[(cid, selection["@id"], unit)] = types["total"] if "total" in types else sum(types.values())
            for other in contest.get("OtherCounts", []):
                figures = {k: v for k, v in other.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                others[(cid, other["GpUnitId"])] = figures
    return votes, others


def compare_with_certified(certified, export):
    cert_votes, cert_others = err_counts(certified)
    exp_votes, exp_others = err_counts(export)
    if not cert_votes:
        raise Failure("the certified report has no VoteCounts (wrong file?)")
    problems = []
    for key, count in sorted(cert_votes.items()):
        got = exp_votes.get(key)
        if got is None and count == 0:
            continue  # a zero the export leaves out is the same count
        if got != count:
            problems.append(f"VoteCounts {key}: certified {count}, export {got}")
    for key, figures in sorted(cert_others.items()):
        got = exp_others.get(key, {})
        for name, value in figures.items():
            if got.get(name, 0 if value == 0 else None) != value:
                problems.append(f"OtherCounts {key} {name}: certified {value}, export {got.get(name)}")
    if problems:
        raise Failure(f"{len(problems)} counts differ from the certified results:\n  " + "\n  ".join(problems[:40]))
    return len(cert_votes), len(cert_others)


def nist_case(args, work, case):
    data = os.path.join(args.data, "nist-cdf-test-method", case)
    pe_err = os.path.join(data, f"pe-err-{case}.json")
    cvr = os.path.join(data, f"cvr-{case}.json")
    with open(cvr) as f:
        ballots = len(json.load(f)["CVR"])
    with open(os.path.join(data, f"err-{case}.json")) as f:
        certified = json.load(f)
    election = case
    with Cluster(args.quorumctl, work) as cluster:
        _, out, _ = cluster.ctl(0, "election", "load", pe_err, "--id", election)
        print(out.strip())
        _, out, _ = cluster.ctl(1, "ingest", cvr, "--election", election)
        print(out.strip())
        n, duplicates, refused = ingest_counts(out)
        # Duplicates may be > 0: a batch whose answer was lost (503, timeout) is retried with the same ids.
        if (n, refused) != (ballots, 0):
            raise Failure(f"first ingest: expected {ballots} ballots and 0 refused; got {n} ({duplicates} "
                          f"duplicates), {refused} refused")
        summary, export = wait_complete(cluster, election)
        validate(export, os.path.join(args.schemas, "NIST_V2_election_results_reporting.json"))
        if export.get("Status") != "unofficial-complete":
            raise Failure(f"export Status is {export.get('Status')!r}, expected 'unofficial-complete'")
        if summary.get("status") != "unofficial-complete":
            raise Failure(f"/v1/results status is {summary.get('status')!r}, expected 'unofficial-complete'")
        checked = compare_with_certified(certified, export)
        print(f"{case}: {checked[0]} VoteCounts and {checked[1]} OtherCounts equal the certified results")
        check_audit(cluster, election, case)

        # Re-ingesting changes nothing: every ballot is a duplicate, the export is the same.
        _, out, _ = cluster.ctl(4, "ingest", cvr, "--election", election)
        n, duplicates, refused = ingest_counts(out)
        if duplicates != ballots or refused != 0:
            raise Failure(f"second ingest: expected {ballots} duplicates and 0 refused; got {n} ballots, "
                          f"{duplicates} duplicates, {refused} refused")
        time.sleep(2.0)
        again = results(cluster, 5, election, "nist-err")
        if err_counts(again) != err_counts(export) or again.get("Status") != export.get("Status"):
            raise Failure("the export changed after re-ingesting the same file")
        print(f"{case}: re-ingest: {duplicates} duplicates, export unchanged")


def dominion_reading(directory, export_name):
    """Independent tally of a Dominion CvrExport: {contest name: {candidate name: votes}} for the
    current card images (Modified when it is current, else Original), marks with IsVote (every
    rank of a ranked-choice contest, as the handlers count selections). Also the number of
    sessions (ballots)."""
    def manifest(name):
        with open(os.path.join(directory, name)) as f:
            return {item["Id"]: item for item in json.load(f)["List"]}
    contests = manifest("ContestManifest.json")
    candidates = manifest("CandidateManifest.json")
    with open(os.path.join(directory, export_name)) as f:
        export = json.load(f)
    tally = collections.defaultdict(collections.Counter)
    sessions = 0
    for session in export["Sessions"]:
        sessions += 1
        image = session.get("Modified") if session.get("Modified") and session["Modified"].get("IsCurrent") \
            else session["Original"]
        for card in image.get("Cards", []):
            for contest in card.get("Contests", []):
                info = contests[contest["Id"]]
                for mark in contest.get("Marks", []):
                    if not mark.get("IsVote"):
                        continue
                    tally[info["Description"]][candidates[mark["CandidateId"]]["Description"]] += 1
    return tally, sessions


def norm(name):
    return " ".join(str(name).split()).casefold()


def dominion_case(args, work):
    directory = os.path.join(args.data, "dominion-sf-2020")
    expected, sessions = dominion_reading(directory, "CvrExport_24940.json")
    if not expected:
        raise Failure("the independent reading found no votes (wrong file?)")
    election = "sf-2020"
    with Cluster(args.quorumctl, work) as cluster:
        _, out, _ = cluster.ctl(0, "election", "load", directory, "--format", "dominion", "--id", election)
        print(out.strip())
        _, out, _ = cluster.ctl(1, "ingest", os.path.join(directory, "CvrExport_24940.json"), "--election",
                                election, "--format", "dominion")
        print(out.strip())
        n, duplicates, refused = ingest_counts(out)
        if refused != 0 or n != sessions:
            raise Failure(f"ingest: expected {sessions} ballots and 0 refused; got {n} ballots, {refused} refused")
        # Five ballots reach only a few of the county's precincts: close the rest, so reporting completes.
        _, out, _ = cluster.ctl(2, "election", "close", election, "--all")
        print(out.strip())
        summary, _ = wait_complete(cluster, election)
        by_name = {norm(c["name"]): c for c in summary["contests"]}
        problems = []
        compared = 0
        for contest_name, counts in sorted(expected.items()):
            contest = by_name.get(norm(contest_name))
            if contest is None:
                problems.append(f"contest {contest_name!r} is not in the results")
                continue
            got = {norm(s["name"]): s["votes"] for s in contest["selections"]}
            for candidate, votes in sorted(counts.items()):
                compared += 1
                if got.get(norm(candidate), 0) != votes:
                    problems.append(f"{contest_name} / {candidate}: independent {votes}, results "
                                    f"{got.get(norm(candidate))}")
            for candidate, votes in got.items():
                if votes and candidate not in {norm(c) for c in counts}:
                    problems.append(f"{contest_name} / {candidate}: results {votes}, independent reading 0")
        if problems:
            raise Failure(f"{len(problems)} Dominion counts differ:\n  " + "\n  ".join(problems[:40]))
        print(f"dominion: {compared} contest/candidate totals over {len(expected)} contests equal the "
              f"independent reading ({sessions} ballots)")


def synthetic_tally(directory):
    """Independent tally of `quorumctl gen` files: per unit (precincts and every roll-up, by the
    definition's ComposingGpUnitIds) and contest: ballots, overvotes, undervotes and selections
    (votes of allocable positions, the handlers' rule; a ranked-choice contest counts ballots only
    at units); and the ranked-choice contest's rankings."""
    (pe_path,) = [os.path.join(directory, f) for f in os.listdir(directory) if f.startswith("pe-err-")]
    with open(pe_path) as f:
        pe = json.load(f)
    units = {u["@id"]: u for u in pe["GpUnit"]}
    rcv = {c["@id"] for c in pe["Election"][0]["Contest"] if c.get("VoteVariation") == "rcv"}

    def new_counts():
        return {"ballots": 0, "overvotes": 0, "undervotes": 0, "selections": collections.Counter()}
    leaf = collections.defaultdict(lambda: collections.defaultdict(new_counts))
    leaf_ballots = collections.Counter()
    rankings = collections.defaultdict(list)
    for name in sorted(os.listdir(directory)):
        if not name.startswith("cvr-"):
            continue
        with open(os.path.join(directory, name)) as f:
            report = json.load(f)
        for cvr in report["CVR"]:
            unit = cvr["BallotStyleUnitId"]
            leaf_ballots[unit] += 1
            (snapshot,) = cvr["CVRSnapshot"]
            for contest in snapshot["CVRContest"]:
                counts = leaf[unit][contest["ContestId"]]
                counts["ballots"] += 1
                if contest["ContestId"] in rcv:
                    # Ranked-choice: units count the ballot only; the rounds come from the rankings.
                    ranked = [(position["Rank"], selection["ContestSelectionId"])
                              for selection in contest.get("CVRContestSelection", [])
                              for position in selection["SelectionPosition"] if "Rank" in position]
                    if ranked:
                        rankings[contest["ContestId"]].append([sid for _, sid in sorted(ranked)])
                    continue
                counts["overvotes"] += contest.get("Overvotes", 0)
                counts["undervotes"] += contest.get("Undervotes", 0)
                for selection in contest.get("CVRContestSelection", []):
                    for position in selection["SelectionPosition"]:
                        if position.get("IsAllocable") != "no":
                            counts["selections"][selection["ContestSelectionId"]] += position.get("NumberVotes", 1)

    def atoms(uid):
        parts = units[uid].get("ComposingGpUnitIds") or []
        return {uid} if not parts else set().union(*(atoms(p) for p in parts))
    expected = {}
    for uid in units:
        total = collections.defaultdict(new_counts)
        ballots = 0
        for precinct in atoms(uid):
            ballots += leaf_ballots[precinct]
            for cid, counts in leaf[precinct].items():
                for key in ("ballots", "overvotes", "undervotes"):
                    total[cid][key] += counts[key]
                total[cid]["selections"].update(counts["selections"])
        expected[uid] = (ballots, total)
    return expected, rankings


def instant_runoff(rankings):
    """Single-winner IRV (one elimination per round, ties: fewer votes in earlier rounds, then the
    smallest id); returns (first-round tallies, winner)."""
    continuing = {sid for ranking in rankings for sid in ranking}
    history = []
    while True:
        tally = collections.Counter({sid: 0 for sid in continuing})
        for ranking in rankings:
            for sid in ranking:
                if sid in continuing:
                    tally[sid] += 1
                    break
        history.append(tally)
        total = sum(tally.values())
        if total == 0:
            return history[0], None
        leader, votes = max(tally.items(), key=lambda kv: kv[1])
        if votes * 2 > total:
            return history[0], leader
        loser = min(continuing, key=lambda sid: ([h.get(sid, 0) for h in reversed(history)], sid))
        continuing.discard(loser)


def synthetic_case(args, work):
    directory = os.path.join(work, "election")
    run([args.quorumctl, "--no-progress", "gen", "--out", directory, "--name", "synth", "--precincts", "24",
         "--ballots-per-precinct", "25", "--seed", "3", "--cvrs-per-file", "200"])
    files = sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.startswith("cvr-"))
    expected, rankings = synthetic_tally(directory)
    election = "synth"
    with Cluster(args.quorumctl, work) as cluster:
        _, out, _ = cluster.ctl(0, "election", "load", os.path.join(directory, "pe-err-synth.json"), "--id", election)
        print(out.strip())
        _, out, _ = cluster.ctl(1, "ingest", *files, "--election", election)
        print(out.strip())
        n, duplicates, refused = ingest_counts(out)
        if (n, refused) != (24 * 25, 0):
            raise Failure(f"ingest: expected 600 ballots and 0 refused; got {n} ({duplicates} duplicates), {refused}")
        summary, export = wait_complete(cluster, election)
        validate(export, os.path.join(args.schemas, "NIST_V2_election_results_reporting.json"))
        if export.get("Status") != "unofficial-complete":
            raise Failure(f"export Status is {export.get('Status')!r}, expected 'unofficial-complete'")
        url = cluster.urls[6] + "/v1/results?" + urllib.parse.urlencode({"election": election, "units": "all"})
        with urllib.request.urlopen(url, timeout=60) as response:
            full = json.loads(response.read())
        got_units = {u["id"]: u for u in full["units"]}
        problems = []
        for uid, (ballots, contests) in sorted(expected.items()):
            unit = got_units.get(uid)
            if unit is None:
                problems.append(f"unit {uid} is not in the results")
                continue
            if unit["ballots"] != ballots:
                problems.append(f"{uid}: ballots {unit['ballots']}, expected {ballots}")
            for cid, counts in contests.items():
                got = unit["contests"].get(cid)
                if got is None:
                    problems.append(f"{uid}/{cid}: missing")
                    continue
                for key in ("ballots", "overvotes", "undervotes"):
                    if got[key] != counts[key]:
                        problems.append(f"{uid}/{cid} {key}: {got[key]}, expected {counts[key]}")
                selections = {sid: v for sid, v in got["selections"].items() if v}
                if selections != dict(counts["selections"]):
                    problems.append(f"{uid}/{cid} selections: {selections}, expected {dict(counts['selections'])}")
        for cid, ballots_ranked in rankings.items():
            contest = next((c for c in summary["contests"] if c["id"] == cid), None)
            first, winner = instant_runoff(ballots_ranked)
            if contest is None or not contest.get("rounds"):
                problems.append(f"ranked-choice contest {cid} has no rounds")
                continue
            got_first = {sid: v for sid, v in contest["rounds"][0]["tallies"].items() if v}
            if got_first != {sid: v for sid, v in first.items() if v}:
                problems.append(f"{cid} round 1: {got_first}, expected {dict(first)}")
            if contest["rounds"][-1].get("elected") != winner:
                problems.append(f"{cid} winner: {contest['rounds'][-1].get('elected')}, expected {winner}")
        if problems:
            raise Failure(f"{len(problems)} synthetic counts differ:\n  " + "\n  ".join(problems[:40]))
        print(f"synthetic: {len(expected)} units x their contests equal the independent tally of "
              f"{len(files)} CVR files; ranked-choice rounds agree")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quorumctl", required=True)
    parser.add_argument("--data", required=True, help="tests/data")
    parser.add_argument("--schemas", required=True, help="tests/data/schemas")
    parser.add_argument("--case", required=True, choices=("gen-03", "gen-01", "dominion", "synthetic"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix=f"quorum-e2e-{args.case}-")
    ok = False
    try:
        if args.case == "dominion":
            dominion_case(args, work)
        elif args.case == "synthetic":
            synthetic_case(args, work)
        else:
            nist_case(args, work, args.case)
        ok = True
    except (Failure, subprocess.TimeoutExpired) as error:
        print(f"FAIL ({args.case}): {error}\nwork dir kept: {work}", file=sys.stderr)
    finally:
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.exit(main())
