"""API load benchmark: throughput and latency under 32 concurrent connections, on PostgreSQL,
one ``vardmote serve`` and two behind HAProxy.

Starts a throwaway database on the PostgreSQL server of the run
(``VARDMOTE_TEST_DATABASE_URL``, else ``scripts/start-postgresql``'s, as ``make
test-postgresql`` does; tests/databases.py), then ``vardmote serve`` in demo mode
with media off (tests/servers.py), inside the tests' network namespace
(tests/netns.py, as root; all traffic stays on its loopback). It signs in as the
demo clinician annika and drives the server with ``wrk`` (Debian package),
CONNECTIONS connections for SECONDS seconds per endpoint, with ``--latency``:

- ``week``: ``GET /api/v1/meetings`` (the current week, the demo meetings), by cookie;
- ``week_at_500``: the same offered at a fixed 500 requests/s, arriving on their own
  (bench/open_loop.py): the latency at the goal's rate, which wrk's closed loop of 32
  connections cannot show (its mean latency is 32 / rate);
- ``me``: ``GET /api/v1/me``, by cookie;
- ``page``: ``GET /moten/<id>``, the meeting page, by cookie;
- ``signin``: ``POST /api/v1/session`` with annika's password (argon2 on purpose, so slow:
  SIGNIN_CONNECTIONS connections only), and ``signin_page``: ``GET /logga-in``;
- ``book``: ``POST /api/v1/meetings`` by Bearer token, each request a new protected meeting
  a year ahead (so that the week measured above does not grow), at most BOOKINGS in all;
- ``healthz``: ``GET /healthz`` (one ``SELECT 1``), the raw path the others compare with.

Then the same with a second ``vardmote serve`` on the same database behind HAProxy
(deploy/haproxy.cfg, through tests/haproxy.py).
POSTs (sign-in, booking) are capped by count in wrk's Lua script as well as by time.

``python bench/api_load.py [SECONDS] [--only week,me] [--py-spy FOLDER]`` (default 5 seconds,
every endpoint). ``--only`` measures just the endpoints named (sign-in still happens);
``--py-spy`` records collapsed stacks (``py-spy record --format raw``; py-spy is installed
by hand, it is not a dependency) of each ``vardmote serve`` while each endpoint is
measured, as FOLDER/<topology>-<endpoint>-<pid>.txt. Prints one line per endpoint and
topology, e.g.::

    one week_rps=… week_p50_ms=… week_p99_ms=… week_errors=…
    two week_rps=… week_p50_ms=… week_p99_ms=… week_errors=…
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test helpers

from databases import bench_database
from haproxy import running_haproxy
from netns import enter_test_namespace
from servers import DEMO_PASSWORD, Server, serve

ROOT = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Europe/Stockholm")
_ARGS = argparse.ArgumentParser(description="API load benchmark (see the module's docstring)")
_ARGS.add_argument("seconds", nargs="?", type=int, default=5)
_ARGS.add_argument("--only", default="", help="endpoints to measure, comma-separated (default all)")
_ARGS.add_argument("--py-spy", dest="py_spy", type=Path, help="folder for py-spy flame graphs")
OPTIONS = _ARGS.parse_args()
SECONDS: int = OPTIONS.seconds
ONLY = {name for name in OPTIONS.only.split(",") if name}
CONNECTIONS = 32
THREADS = 2
BOOKINGS = 3000
"""At most this many meetings booked per topology (wrk's Lua script stops there)."""
SIGNINS = 2000
WARM_UP = 50
"""Requests of each GET endpoint before measuring, so that a process just started is not measured cold."""
SIGNIN_CONNECTIONS = 2
"""Sign-in hashes the password with argon2 (tens of ms of CPU on purpose): with 32
connections every request waits seconds, so it runs with as many connections as cores."""


@dataclass
class Figures:
    """Figures are what wrk measured of one endpoint."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_ms: float = 0.0
    """CPU time (user and system) of the ``vardmote serve`` processes per request, in ms:
    steadier than the rates when other work shares the machine."""


def _ms(value: str) -> float:
    """_ms reads one of wrk's durations (``812.00us``, ``1.20ms``, ``1.05s``, ``2.00m``) as ms."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _parse(out: str) -> Figures:
    """_parse reads wrk's --latency report."""
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    found = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if found:
        errors += int(found.group(1))
    found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if found:
        errors += sum(int(g) for g in found.groups())
    return Figures(rps, p50, p99, requests, errors)


# wrk's Lua for a POST: the same body each time, at most `limit` requests per thread (the
# count bound of the POSTs besides the time).
_LUA = """
local counter = 0
local limit = %(limit)d
local body = [[%(body)s]]

function request()
  counter = counter + 1
  return wrk.format("%(method)s", nil, nil, body)
end

function response(status, headers, body)
  if counter >= limit then
    wrk.thread:stop()
  end
end
"""


def wrk(
    url: str,
    headers: dict[str, str],
    folder: Path,
    *,
    method: str = "GET",
    body: str = "",
    limit: int = 0,
    connections: int = CONNECTIONS,
) -> Figures:
    """wrk runs wrk against url for SECONDS seconds (and, with limit, at most limit requests)."""
    threads = min(THREADS, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{SECONDS}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if method != "GET":
        script = folder / f"wrk-{secrets.token_hex(4)}.lua"
        per_thread = max(1, limit // threads) if limit else 10**9
        script.write_text(_LUA % {"limit": per_thread, "body": body, "method": method})
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True, timeout=SECONDS + 60)
    return _parse(out.stdout)


FIXED_RATE = 500
"""Requests per second offered in the fixed-rate run of the week view (the issue's goal)."""


def fixed_rate(url: str, headers: dict[str, str]) -> Figures:
    """fixed_rate offers FIXED_RATE requests/s for SECONDS seconds, arriving on their own
    (bench/open_loop.py: Poisson arrivals, latency from each request's planned time): the
    latency at that rate, not at whatever rate 32 connections always in flight push the
    server to (wrk's closed loop: by Little's law its mean latency is connections / rate,
    64 ms at 500/s)."""
    command = [sys.executable, str(ROOT / "bench" / "open_loop.py"), url, "--rate", str(FIXED_RATE)]
    command += ["--seconds", str(SECONDS), *(arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}"))]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=SECONDS + 60).stdout
    f = json.loads(out)
    if f["errors"]:
        print(f"# errors at {FIXED_RATE}/s: {f['error_kinds']}", flush=True)
    return Figures(f["rps"], f["p50_ms"], f["p99_ms"], f["requests"], f["errors"])


def _booking_lua_body() -> str:
    """_booking_lua_body is a booking's JSON with holes for Lua's string.format: the title's
    number, then start and end as hours and minutes, on one day a year ahead (so that the
    week measured stays as it was)."""
    day = (dt.datetime.now(TZ).date() + dt.timedelta(days=366)).isoformat()
    return (
        json.dumps(
            {
                "title": "Belastning __N__",
                "start": f"{day}T__S__",
                "end": f"{day}T__E__",
                "type_key": "vardmote_patient",
            }
        )
        .replace("__N__", "%d")
        .replace("__S__", "%02d:%02d")
        .replace("__E__", "%02d:%02d")
    )


_BOOK_LUA = """
local counter = 0
local thread_id = 0
local next_id = 0
local limit = %(limit)d
local body = [[%(body)s]]

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

function request()
  counter = counter + 1
  local n = thread_id * 100000 + counter
  local start = 7 * 60 + (n %% (10 * 60))
  local stop = start + 30
  local b = string.format(body, n, math.floor(start / 60), start %% 60, math.floor(stop / 60), stop %% 60)
  return wrk.format("POST", nil, nil, b)
end

function response(status, headers, body)
  if counter >= limit then
    wrk.thread:stop()
  end
end
"""


def wrk_booking(url: str, headers: dict[str, str], folder: Path) -> Figures:
    """wrk_booking books up to BOOKINGS meetings with wrk, each with its own title and time."""
    script = folder / f"book-{secrets.token_hex(4)}.lua"
    script.write_text(_BOOK_LUA % {"limit": BOOKINGS // THREADS, "body": _booking_lua_body()})
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, "-s", str(script), url], capture_output=True, text=True, check=True, timeout=SECONDS + 60
    )
    return _parse(out.stdout)


def _call(url: str, method: str, path: str, body: object, token: str | None = None) -> object:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@contextmanager
def _profiled(label: str, pids: list[int]) -> Iterator[None]:
    """_profiled records each of pids with py-spy while the block runs (with --py-spy)."""
    if OPTIONS.py_spy is None:
        yield
        return
    OPTIONS.py_spy.mkdir(parents=True, exist_ok=True)
    spies = [
        subprocess.Popen(
            [
                shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(pid),
                "--rate",
                "200",
                "--duration",
                str(SECONDS),
                "--output",
                str(OPTIONS.py_spy / f"{label}-{pid}.txt"),
                "--nonblocking",
                "--format",
                "raw",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.wait(timeout=60)


def measure(
    base: str, folder: Path, topology: str = "one", pids: list[int] | None = None
) -> dict[str, Figures]:
    """measure signs in at base and runs wrk against each endpoint in turn (those of --only)."""
    signed_in = _call(base, "POST", "/api/v1/session", {"username": "annika", "password": DEMO_PASSWORD})
    assert isinstance(signed_in, dict)
    token = signed_in["token"]
    cookie = {"Cookie": f"vm_session={token}"}
    bearer = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(base + "/api/v1/meetings", headers=cookie)) as r:
        week = json.load(r)
    if not week:
        raise SystemExit("the current week has no demo meetings to show")
    meeting_id = week[0]["id"]
    for _ in range(WARM_UP):  # every process behind base answers a few first (caches, prepared statements)
        for path in ("/api/v1/meetings", "/api/v1/me", f"/moten/{meeting_id}"):
            with urllib.request.urlopen(urllib.request.Request(base + path, headers=cookie)) as r:
                r.read()
    runs: dict[str, Callable[[], Figures]] = {
        "healthz": lambda: wrk(base + "/healthz", {}, folder),
        "week": lambda: wrk(base + "/api/v1/meetings", cookie, folder),
        "week_at_500": lambda: fixed_rate(base + "/api/v1/meetings", cookie),
        "me": lambda: wrk(base + "/api/v1/me", cookie, folder),
        "page": lambda: wrk(base + f"/moten/{meeting_id}", cookie, folder),
        "book": lambda: wrk_booking(base + "/api/v1/meetings", bearer, folder),
        "signin": lambda: wrk(
            base + "/api/v1/session",
            {"Content-Type": "application/json"},
            folder,
            method="POST",
            body=json.dumps({"username": "annika", "password": DEMO_PASSWORD}),
            limit=SIGNINS,
            connections=SIGNIN_CONNECTIONS,
        ),
        "signin_page": lambda: wrk(base + "/logga-in", {}, folder),
    }
    out: dict[str, Figures] = {}
    for name, run in runs.items():
        if ONLY and name not in ONLY:
            continue
        before = _cpu_seconds(pids or [])
        with _profiled(f"{topology}-{name}", pids or []):
            figures = run()
        figures.cpu_ms = (_cpu_seconds(pids or []) - before) * 1000 / max(1, figures.requests)
        out[name] = figures
    print(f"# {len(week)} meetings in the week view", flush=True)
    return out


def _cpu_seconds(pids: list[int]) -> float:
    """_cpu_seconds is the CPU time the processes pids have used so far (all their threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _print(topology: str, figures: dict[str, Figures]) -> None:
    for name, f in figures.items():
        print(
            f"{topology} {name}_rps={f.rps:.0f} {name}_p50_ms={f.p50_ms:.2f} {name}_p99_ms={f.p99_ms:.2f} "
            f"{name}_requests={f.requests} {name}_errors={f.errors} {name}_cpu_ms={f.cpu_ms:.2f}",
            flush=True,
        )


def main() -> int:
    """main runs the benchmark in the test namespace and prints its figures."""
    for tool in ("wrk", "haproxy"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (scripts/install-system-packages --test)")
    with enter_test_namespace(), tempfile.TemporaryDirectory(prefix="vardmote-load-") as tmp:
        folder = Path(tmp)
        env = {"VARDMOTE_SECRET_KEY": secrets.token_urlsafe(32), **_passed_settings()}
        with bench_database("bench") as database, ExitStack() as stack:
            one: Server = stack.enter_context(serve(folder / "one", database_url=database, env=env))
            _print("one", measure(one.url, folder, "one", [one.process.pid]))
            # The second process starts once the first has loaded the demo data.
            two: Server = stack.enter_context(serve(folder / "two", database_url=database, env=env))
            backends = [one.url.removeprefix("http://"), two.url.removeprefix("http://")]
            with running_haproxy(folder, backends) as proxy:
                _print("two", measure(proxy.url, folder, "two", [one.process.pid, two.process.pid]))
    return 0


def _passed_settings() -> dict[str, str]:
    """_passed_settings are the VARDMOTE_BENCH_* variables of this process, passed to the servers
    as VARDMOTE_* (e.g. VARDMOTE_BENCH_DB_POOL_SIZE=20), so a setting can be compared."""
    prefix = "VARDMOTE_BENCH_"
    return {"VARDMOTE_" + k[len(prefix) :]: v for k, v in os.environ.items() if k.startswith(prefix)}


if __name__ == "__main__":
    sys.exit(main())
