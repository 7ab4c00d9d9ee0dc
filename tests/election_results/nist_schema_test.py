#!/usr/bin/env python3
"""The nist-err rendering validates against NIST SP 1500-100 v2.

usage: nist_schema_test.py DUMP_TOOL SCHEMA OUT_DIR
Runs DUMP_TOOL OUT_DIR (the fixture rendered in every phase, and NIST's
certified gen-01 / gen-03 results rebuilt as projections), then validates
every nist-err-*.json with python3-jsonschema (Draft 4, as the schema says)
and checks what the schema cannot: every VoteCounts/OtherCounts GpUnitId and
ElectionDistrictId names a GpUnit, and the Status follows the phase.
Exit 77 (skipped) only when python3-jsonschema is missing.
"""
import glob
import json
import os
import subprocess
import sys

try:
    import jsonschema
except ImportError:
    print("SKIP: python3-jsonschema is not installed (scripts/deps)")
    sys.exit(77)


def main():
    tool, schema_path, out = sys.argv[1:4]
    subprocess.run([tool, out], check=True, stdout=subprocess.DEVNULL)
    with open(schema_path) as f:
        schema = json.load(f)
    validator = jsonschema.Draft4Validator(schema)
    files = sorted(glob.glob(os.path.join(out, "nist-err-*.json")))
    assert len(files) == 5, files  # the fixture's 3 phases, NIST's gen-01 and gen-03
    failures = 0
    for path in files:
        with open(path) as f:
            report = json.load(f)
        errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
        for error in errors[:10]:
            print(f"{path}: {list(error.path)}: {error.message}")
        failures += len(errors)
        units = {g["@id"] for g in report["GpUnit"]}
        for contest in report["Election"][0]["Contest"]:
            assert contest["ElectionDistrictId"] in units, contest["@id"]
            for selection in contest.get("ContestSelection", []):
                for count in selection.get("VoteCounts", []):
                    assert count["GpUnitId"] in units, (path, count)
            for other in contest.get("OtherCounts", []):
                assert other["GpUnitId"] in units, (path, other)
        tail = path.rsplit("-", 1)[1].split(".")[0]
        expected = "unofficial-partial" if tail in ("0", "1") else "unofficial-complete"
        assert report["Status"] == expected, (path, report["Status"])
    if failures:
        print(f"FAIL: {failures} schema errors")
        return 1
    print(f"ok: {len(files)} nist-err reports validate against {os.path.basename(schema_path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
