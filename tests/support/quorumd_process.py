"""One quorumd process for Python tests: started on a free loopback port,
ready once GET /v1/health answers 200, stopped with SIGTERM (then SIGKILL).

    from quorumd_process import QuorumdProcess   # tests/support on sys.path
    node = QuorumdProcess(quorumd_binary, work_dir, plugins=dir, token=None)
    ... node.url ...
    node.stop()

Its data and log live in work_dir (data-PORT/, quorumd-PORT.log). QUORUM_TOKEN
is removed from its environment, so only `token` (a --token-file) applies.
"""
import os
import socket
import subprocess
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QuorumdProcess:
    def __init__(self, quorumd, work, plugins=None, token=None, ready_timeout_s=30):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [quorumd, "--data", os.path.join(work, f"data-{self.port}"), "--http", f"127.0.0.1:{self.port}"]
        if plugins:
            cmd += ["--plugins", plugins]
        if token:
            path = os.path.join(work, f"token-{self.port}")
            with open(path, "w") as f:
                f.write(token + "\n")
            cmd += ["--token-file", path]
        self.log = open(os.path.join(work, f"quorumd-{self.port}.log"), "wb")
        env = dict(os.environ)
        env.pop("QUORUM_TOKEN", None)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"quorumd exited {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/v1/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"quorumd not serving after {ready_timeout_s} s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
