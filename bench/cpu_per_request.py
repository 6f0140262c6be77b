"""Server CPU per request of the week view and /me, measured without load.

Runs one ``vardmote serve`` (demo mode, media off; tests/servers.py) on a fresh PostgreSQL
database (the run's, else ``scripts/start-postgresql``'s), signs in as annika and sends
REQUESTS requests one after another on one keep-alive connection, per endpoint and
round; prints the server process's CPU time (utime + stime from /proc) per request.
Unlike bench/api_load.py it does not load the machine: one request at a time.

``python bench/cpu_per_request.py [REQUESTS] [ROUNDS] [week,me]`` (default 2000, 3 and both);
with PY_SPY_OUT=FILE, py-spy (installed by hand) records the server's stacks into FILE.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test helpers

from databases import bench_database
from servers import DEMO_PASSWORD, serve

ROOT = Path(__file__).resolve().parents[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def main() -> int:
    """main prints the CPU ms per request of each endpoint, round by round."""
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    only = set(sys.argv[3].split(",")) if len(sys.argv) > 3 else {"week", "me"}
    with tempfile.TemporaryDirectory(prefix="vardmote-cpu-") as tmp, bench_database("cpu") as database:
        env = {"VARDMOTE_SECRET_KEY": secrets.token_urlsafe(32)}
        with serve(Path(tmp) / "one", database_url=database, env=env) as server:
            host, port = server.url.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port))
            body = json.dumps({"username": "annika", "password": DEMO_PASSWORD})
            conn.request("POST", "/api/v1/session", body, {"Content-Type": "application/json"})
            token = json.loads(conn.getresponse().read())["token"]
            headers = {"Cookie": f"vm_session={token}"}
            spy = None
            if os.environ.get("PY_SPY_OUT"):  # collapsed stacks of the server, for a look
                py_spy = str(Path(sys.executable).parent / "py-spy")
                out, pid = os.environ["PY_SPY_OUT"], str(server.process.pid)
                spy = subprocess.Popen(
                    [py_spy, "record", "--nonblocking", "-r", "500", "--format", "raw", "-o", out, "-p", pid],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            for _ in range(rounds):
                for name, path in (("week", "/api/v1/meetings"), ("me", "/api/v1/me")):
                    if name not in only:
                        continue
                    for _ in range(200):  # warm up
                        conn.request("GET", path, headers=headers)
                        conn.getresponse().read()
                    before = _cpu_seconds(server.process.pid)
                    for _ in range(requests):
                        conn.request("GET", path, headers=headers)
                        response = conn.getresponse()
                        response.read()
                        assert response.status == 200, response.status
                    used = _cpu_seconds(server.process.pid) - before
                    print(f"{name}_cpu_ms={used / requests * 1000:.3f}", flush=True)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
