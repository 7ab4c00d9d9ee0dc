#!/usr/bin/env python3
"""quorumctl results against quorumd's HTTP front end over the results fixture.

usage: quorumctl_results_test.py FIXTURE_SERVER QUORUMCTL
Starts election_results_fixture_server (phase 1), then checks every format,
-o FILE, --summary, and the exit codes (2: refused, 1: usage, 3: unreachable).
"""
import json
import os
import socket
import subprocess
import sys
import tempfile


def main():
    server_bin, ctl = sys.argv[1:3]
    server = subprocess.Popen([server_bin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        assert line.startswith("port "), line
        node = f"http://127.0.0.1:{line.split()[1]}"
        server.stdin.write("phase 1\n")
        server.stdin.flush()
        assert server.stdout.readline().strip() == "phase 1"

        def run(*args):
            p = subprocess.run([ctl, "--node", node, *args], capture_output=True, text=True, timeout=60)
            return p.returncode, p.stdout, p.stderr

        code, out, err = run("results")
        assert code == 0, err
        results = json.loads(out)
        assert results["election"]["id"] == "demo-2026" and results["reporting"] == {"reported": 1, "total": 2}
        assert [s["votes"] for s in results["contests"][0]["selections"]] == [2, 1, 0]

        code, out, err = run("results", "--summary")
        assert code == 0, err
        assert "unofficial-partial, 1 of 2 precincts reported" in out, out
        assert "cs-alice   Alice Adams  2      66.67%" in out, out
        assert "ranked choice: 2 round(s); elected c1" in out, out

        code, out, err = run("results", "--election", "demo-2026", "--format", "csv")
        assert code == 0 and out.startswith("contest_id,contest_name,unit_id"), (code, out[:200], err)
        assert len(out.strip().splitlines()) == 1 + 12 + 4 + 9, out

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "err.json")
            code, out, err = run("results", "--format", "nist-err", "-o", path)
            assert code == 0 and out == "" and "written to" in err, (code, out, err)
            with open(path) as f:
                assert json.load(f)["@type"] == "ElectionResults.ElectionReport"

        code, out, err = run("results", "--format", "audit")
        assert code == 0 and json.loads(out)["ok"] is True, out
        code, out, err = run("results", "--format", "ap")
        assert code == 0 and len(json.loads(out)["races"]) == 3, out

        code, out, err = run("results", "--election", "nope")
        assert code == 2 and "election nope is not loaded" in err, (code, err)
        code, out, err = run("--json", "results", "--election", "nope")
        assert code == 2 and json.loads(out)["status"] == 404, (code, out)
        code, out, err = run("results", "--format", "xml")
        assert code == 1, (code, err)
        code, out, err = run("results", "--summary", "--format", "csv")
        assert code == 1 and "--summary" in err, (code, err)
    finally:
        server.stdin.close()
        server.wait(10)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    p = subprocess.run([ctl, "--node", f"http://127.0.0.1:{free}", "results"], capture_output=True, text=True)
    assert p.returncode == 3, (p.returncode, p.stderr)
    print("ok: quorumctl results: formats, -o, --summary, exit codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
