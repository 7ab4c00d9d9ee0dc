#!/usr/bin/env python3
"""`quorumctl gen` (label election): the synthetic election's files are valid NIST files with the
structure the spec asks for, deterministic, and written with bounded memory.

    gen_test.py --quorumctl PATH --schemas DIR

Checks (each prints what it saw):
  - the pre-election report validates against NIST SP 1500-100 v2 and every CVR file against
    SP 1500-103 (tests/data/schemas); files hold at most --cvrs-per-file CVRs, all ballots once;
  - structure: a state, counties, congressional/state-house districts, a city; every
    ComposingGpUnitId and ElectionDistrictId names a unit; one BallotStyle per precinct; every
    CVR's BallotStyleUnitId has a BallotStyle and its contests are that style's contests; every
    contest's district contains the precinct; a vote-for-2 contest, a ranked-choice contest
    (ranks 1..3 on its selections), write-ins (CVRWriteIn), undervotes and overvotes
    (Overvotes = votes allowed, marks not allocable) occur, and candidates have parties;
  - realistic counts: a precinct's Democratic share follows its county (correlated), no
    contest's turnout exceeds its ballots, Undervotes/Overvotes agree with the marks;
  - the same seed writes the same bytes, another seed other ballots;
  - bad arguments (0 precincts, an unknown contest family, a bad name) exit 1 and write nothing;
  - memory: generating 20x more ballots does not grow the peak RSS by more than 16 MiB.
Standard library plus python3-jsonschema.
"""
import argparse
import collections
import glob
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile


def gen(quorumctl, out, *extra, ok=True):
    args = [quorumctl, "--no-progress", "gen", "--out", out, *extra]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if ok and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def digest(directory):
    h = hashlib.sha256()
    for path in sorted(os.listdir(directory)):
        h.update(path.encode())
        with open(os.path.join(directory, path), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def check_structure(directory, schemas, precincts, per_precinct, per_file, variety=True):
    import jsonschema
    with open(os.path.join(schemas, "NIST_V2_election_results_reporting.json")) as f:
        err_validator = jsonschema.Draft4Validator(json.load(f))
    with open(os.path.join(schemas, "NIST_V0_cast_vote_records.json")) as f:
        cvr_validator = jsonschema.Draft4Validator(json.load(f))
    (pe_path,) = glob.glob(os.path.join(directory, "pe-err-*.json"))
    with open(pe_path) as f:
        pe = json.load(f)
    errors = list(err_validator.iter_errors(pe))
    assert not errors, f"pre-election report: {len(errors)} schema errors, first: {errors[0].message[:300]}"
    assert pe["Status"] == "pre-election"

    units = {u["@id"]: u for u in pe["GpUnit"]}
    types = collections.Counter(u["Type"] for u in units.values())
    assert types["state"] == 1 and types["county"] >= 1 and types["congressional"] >= 1 and \
        types["state-house"] >= 1 and types["city"] == 1 and types["precinct"] == precincts, types
    for u in units.values():
        for child in u.get("ComposingGpUnitIds", []):
            assert child in units, f"{u['@id']} composes unknown unit {child}"

    def atoms(uid):
        u = units[uid]
        if not u.get("ComposingGpUnitIds"):
            return {uid}
        return set().union(*(atoms(c) for c in u["ComposingGpUnitIds"]))

    # Every precinct in exactly one county; the state covers them all.
    state = next(u for u in units.values() if u["Type"] == "state")
    assert atoms(state["@id"]) == {u for u in units if units[u]["Type"] == "precinct"}
    county_of = {}
    for u in units.values():
        if u["Type"] == "county":
            for p in atoms(u["@id"]):
                assert p not in county_of, f"precinct {p} in two counties"
                county_of[p] = u["@id"]
    assert len(county_of) == precincts

    election = pe["Election"][0]
    parties = {p["@id"] for p in pe["Party"]}
    candidates = {c["@id"]: c for c in election["Candidate"]}
    assert all(c.get("PartyId") in parties for c in candidates.values() if "PartyId" in c)
    assert sum("PartyId" in c for c in candidates.values()) >= len(candidates) // 2, "most candidates have parties"
    contests = {c["@id"]: c for c in election["Contest"]}
    district_atoms = {}
    for c in contests.values():
        assert c["ElectionDistrictId"] in units, f"{c['@id']}: unknown district"
        district_atoms[c["@id"]] = atoms(c["ElectionDistrictId"])
        for s in c.get("ContestSelection", []):
            for cand in s.get("CandidateIds", []):
                assert cand in candidates
    assert any(c.get("VotesAllowed", 1) == 2 for c in contests.values()), "a vote-for-2 contest"
    rcv = [c["@id"] for c in contests.values() if c.get("VoteVariation") == "rcv"]
    assert len(rcv) == 1, rcv
    assert any(s.get("IsWriteIn") for c in contests.values() for s in c.get("ContestSelection", []))

    styles = {}
    for style in election["BallotStyle"]:
        (unit,) = style["GpUnitIds"]
        assert units[unit]["Type"] == "precinct" and unit not in styles
        styles[unit] = [o["ContestId"] for o in style["OrderedContent"]]
        for cid in styles[unit]:
            assert unit in district_atoms[cid], f"{cid} on {unit}'s ballot but its district does not contain it"
    assert len(styles) == precincts, "one ballot style per precinct"

    seen = set()
    stats = collections.Counter()
    dem_share = collections.defaultdict(lambda: [0, 0])  # precinct -> [dem, major] in the governor's race
    files = sorted(glob.glob(os.path.join(directory, "cvr-*.json")))
    for path in files:
        with open(path) as f:
            report = json.load(f)
        errors = list(cvr_validator.iter_errors(report))
        assert not errors, f"{os.path.basename(path)}: {len(errors)} schema errors, first: {errors[0].message[:300]}"
        assert 0 < len(report["CVR"]) <= per_file
        file_units = {g["@id"] for g in report["GpUnit"]}
        cvr_contests = {c["@id"]: c for c in report["Election"][0]["Contest"]}
        assert set(cvr_contests) == set(contests)
        for cvr in report["CVR"]:
            uid = cvr["UniqueId"]
            assert uid not in seen, f"ballot {uid} twice"
            seen.add(uid)
            unit = cvr["BallotStyleUnitId"]
            assert unit in styles and unit in file_units
            (snapshot,) = cvr["CVRSnapshot"]
            assert snapshot["@id"] == cvr["CurrentSnapshotId"]
            ids = [c["ContestId"] for c in snapshot["CVRContest"]]
            assert ids == styles[unit], f"{uid}: contests {ids} are not its ballot style's {styles[unit]}"
            for contest in snapshot["CVRContest"]:
                definition = contests[contest["ContestId"]]
                allowed = definition.get("VotesAllowed", 1)
                marks = contest.get("CVRContestSelection", [])
                positions = [p for s in marks for p in s["SelectionPosition"]]
                if contest["ContestId"] in rcv:
                    ranks = [p["Rank"] for p in positions]
                    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) <= 3, ranks
                    stats["ranked ballots"] += bool(ranks)
                    stats["rank 3"] += len(ranks) == 3
                    continue
                if contest["Overvotes"]:
                    assert contest["Overvotes"] == allowed and len(marks) > allowed
                    assert all(p["IsAllocable"] == "no" for p in positions)
                    stats["overvotes"] += 1
                else:
                    assert contest["Undervotes"] == allowed - len(marks), contest
                    assert all(p["IsAllocable"] == "yes" for p in positions)
                    stats["undervotes"] += contest["Undervotes"]
                stats["write-ins"] += sum("CVRWriteIn" in p for p in positions)
                if contest["ContestId"] == "cc-governor" and not contest["Overvotes"] and marks:
                    sid = marks[0]["ContestSelectionId"]
                    (selection,) = [s for s in definition["ContestSelection"] if s["@id"] == sid]
                    party = candidates[selection["CandidateIds"][0]].get("PartyId") if "CandidateIds" in selection \
                        else None
                    if party in ("par-dem", "par-rep"):
                        dem_share[unit][0] += party == "par-dem"
                        dem_share[unit][1] += 1
    assert len(seen) == precincts * per_precinct, f"{len(seen)} ballots, expected {precincts * per_precinct}"
    if not variety:
        print(f"  {len(files)} CVR file, {len(seen)} ballots, {len(contests)} contests, {len(units)} units")
        return len(files)
    for what in ("overvotes", "undervotes", "write-ins", "ranked ballots", "rank 3"):
        assert stats[what] > 0, f"no {what} in {len(seen)} ballots"
    # Partisan lean is correlated within a county: precinct shares vary, county means differ.
    by_county = collections.defaultdict(list)
    for unit, (dem, major) in dem_share.items():
        by_county[county_of[unit]].append(dem / major)
    means = sorted(sum(v) / len(v) for v in by_county.values())
    assert means[-1] - means[0] > 0.05, f"county Democratic shares barely differ: {means}"
    print(f"  {len(files)} CVR files, {len(seen)} ballots, {len(contests)} contests, {len(units)} units, "
          f"county Democratic shares {means[0]:.2f}..{means[-1]:.2f}; {dict(stats)}")
    return len(files)


def peak_rss_kib(quorumctl, out, *extra):
    """Peak RSS of one gen run, measured in a child so each run has its own maximum."""
    code = ("import resource,subprocess,sys;"
            "subprocess.run(sys.argv[1:],check=True,capture_output=True);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    proc = subprocess.run([sys.executable, "-c", code, quorumctl, "--no-progress", "gen", "--out", out, *extra],
                          capture_output=True, text=True, timeout=600, check=True)
    return int(proc.stdout.strip())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quorumctl", required=True)
    parser.add_argument("--schemas", required=True)
    args = parser.parse_args()
    q = args.quorumctl
    work = tempfile.mkdtemp(prefix="quorum-gen-test-")
    try:
        a, b, c = (os.path.join(work, n) for n in "abc")
        print("structure and schemas (90 precincts x 40 ballots, files of 1000):")
        common = ["--precincts", "90", "--ballots-per-precinct", "40", "--cvrs-per-file", "1000", "--name", "t"]
        gen(q, a, *common, "--seed", "11")
        files = check_structure(a, args.schemas, 90, 40, 1000)
        assert files == 4, files
        gen(q, b, *common, "--seed", "11")
        assert digest(a) == digest(b), "the same seed wrote different files"
        gen(q, c, *common, "--seed", "12")
        assert digest(a) != digest(c), "another seed wrote the same files"
        print("  deterministic: same seed same bytes, another seed other ballots")

        one = os.path.join(work, "one")
        gen(q, one, "--precincts", "1", "--ballots-per-precinct", "30", "--name", "one")
        check_structure(one, args.schemas, 1, 30, 100000, variety=False)

        for bad in (["--precincts", "0"], ["--contests", "statewide,mayors"], ["--name", "a b"],
                    ["--date", "2026-13-01"]):
            out = os.path.join(work, "bad")
            proc = gen(q, out, *bad, ok=False)
            assert proc.returncode == 1, f"{bad}: exit {proc.returncode}"
            assert proc.stderr.startswith("quorumctl") or "gen" in proc.stderr or "--" in proc.stderr, proc.stderr
            assert not os.path.exists(out) or not os.listdir(out), f"{bad}: files were written"
            print(f"  {' '.join(bad)}: exit 1 ({proc.stderr.strip().splitlines()[0][:100]})")

        small = peak_rss_kib(q, os.path.join(work, "small"), "--precincts", "100", "--ballots-per-precinct", "10")
        shutil.rmtree(os.path.join(work, "small"))
        big = peak_rss_kib(q, os.path.join(work, "big"), "--precincts", "2000", "--ballots-per-precinct", "10",
                           "--cvrs-per-file", "5000")
        print(f"  peak RSS: {small} KiB for 1,000 ballots, {big} KiB for 20,000 ballots")
        assert big - small < 16 * 1024, "memory grows with the election's size"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.exit(main())
