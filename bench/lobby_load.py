"""Lobby load benchmark: thousands of guests wait in lobbies; how soon does a host hear of one more?

Starts ``vardmote serve`` with its Janus (tests/servers.py: demo mode, a fresh
var folder; this script enters the tests' network namespace first,
tests/netns.py, as root) and books MEETINGS meetings, each with its host (a
signed-in staff WebSocket, joined) in it. Then, for each N of SOCKETS, it
opens guest WebSockets on the meetings' general links until N wait in the
lobbies at once (spread evenly, never more than a lobby holds), and measures:

- notify: PROBES more guests, one at a time PROBE_PAUSE apart, each joining
  a meeting in turn while the N wait; the time from sending ``join`` to the
  meeting's host receiving the ``participant`` message that adds that guest
  (what "Tillåt" waits on). The probe then closes its socket.
- memory: the server process's resident memory (VmRSS) with the N open,
  less what it was with only the hosts in, per socket.

Each level has OPEN_BUDGET seconds to open its sockets; a level that does not
make it prints what it reached and the run stops there. File descriptors:
the soft RLIMIT_NOFILE of this process (and so of the server it starts) is
raised to its hard limit; both are printed. The server runs with
VARDMOTE_CONNECTIONS_PER_ADDRESS high (every socket comes from 127.0.0.1)
and VARDMOTE_LOBBY_LIMIT just over what each lobby gets.

The clients are plain ``websockets`` connections in this one process, which
offer permessage-deflate as browsers do (``vardmote serve`` declines it:
cli.py); every client reads what it is sent. The probes are timed by this
process too, so its own event loop counts in the figures.
Nothing is asserted. ``python bench/lobby_load.py [N ...]`` sets the levels
(default 500 1000 2000 5000). One line per level::

    sockets=… notify_p50_ms=… notify_p99_ms=… kib_per_socket=…

Goal (issue 12): 5,000 sockets on one process with notify_p99_ms under 50.

Figures on the 2-core build machine (other test runs going on, load average
4-7), 2 December 2026: 5,000 sockets, notify p50 10-16 ms, p99 27-37 ms,
39 KiB a socket (82 KiB with permessage-deflate); SQLite and PostgreSQL
alike. Smaller levels had p99 spikes of 70-400 ms in some runs, with the
machine busy; notify does not grow with the sockets held. Where the time
goes (py-spy on the server): the event loop is mostly idle; a join waits on
two trips to the database in the thread pool, reading the link
(``_identify``) and writing the ``meeting.joined`` audit entry, which the
room awaits before it sends ``joined`` and the host's ``participant``; on
SQLite every session takes BEGIN IMMEDIATE, so those trips queue behind each
other's commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the helpers: servers, netns

import websockets
from websockets.asyncio.client import ClientConnection

from netns import enter_test_namespace
from servers import Booking, Server, book_protected_meeting, serve

SOCKETS = [int(a) for a in sys.argv[1:]] or [500, 1000, 2000, 5000]
MEETINGS = 100
PER_LOBBY = -(-max(SOCKETS) // MEETINGS)
"""Guests waiting in each lobby at the largest level (the lobby limit is set just above)."""
PROBES = 200
PROBE_PAUSE = 0.02
OPEN_BUDGET = 180.0
OPEN_AT_ONCE = 50
"""Sockets being opened and joined at the same time."""
PROBE_TIMEOUT = 10.0


def rss_kib(pid: int) -> int:
    """rss_kib is a process's resident memory in KiB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for process {pid}")


def open_files_limit(pid: int) -> str:
    """open_files_limit is a process's "Max open files" (soft and hard) from /proc/<pid>/limits."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return "/".join(line.split()[3:5])
    return "?"


def percentile(samples: list[float], q: float) -> float:
    """percentile is the q-th percentile (0-100) of samples, by nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class Host:
    """Host is a meeting's signed-in host: its WebSocket and when each guest was announced."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.announced: dict[str, float] = {}
        """Guest name → when (monotonic) the host was told of them."""
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                now = time.monotonic()
                message = json.loads(raw)
                if message.get("type") != "participant" or message.get("change") != "add":
                    continue
                name = message["participant"].get("name")
                waiter = self.waiters.pop(name, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


class Guest:
    """Guest is one waiting guest's WebSocket; it reads (and drops) whatever it is sent."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.reader = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _ in self.ws:
                pass

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


async def join_guest(server: Server, booking: Booking, name: str) -> tuple[ClientConnection, dict[str, Any]]:
    """join_guest opens a guest's WebSocket, sends join and returns it with the server's answer."""
    ws = await websockets.connect(server.ws_url(booking.meeting_id), max_size=None, open_timeout=30)
    await ws.send(json.dumps({"type": "join", "link": booking.link, "name": name}))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return ws, answer


async def open_guests(server: Server, bookings: list[Booking], first: int, count: int) -> list[Guest]:
    """open_guests joins count guests (numbered from first) to the lobbies, round robin."""
    gate = asyncio.Semaphore(OPEN_AT_ONCE)

    async def one(n: int) -> Guest:
        async with gate:
            ws, answer = await join_guest(server, bookings[n % len(bookings)], f"Gäst {n}")
            if answer.get("type") != "joined" or answer.get("state") != "lobby":
                await ws.close()
                raise RuntimeError(f"guest {n} was not let into the lobby: {answer}")
            return Guest(ws)

    return list(await asyncio.gather(*(one(n) for n in range(first, first + count))))


async def probe(server: Server, bookings: list[Booking], hosts: list[Host], level: int) -> list[float]:
    """probe joins PROBES guests one at a time; ms from each join to its host's participant add."""
    samples = []
    for i in range(PROBES):
        k = i % len(bookings)
        booking, host = bookings[k], hosts[k]
        name = f"Prov {level}-{i}"
        heard = asyncio.get_running_loop().create_future()
        host.waiters[name] = heard
        ws = await websockets.connect(server.ws_url(booking.meeting_id), max_size=None)
        try:
            sent = time.monotonic()
            await ws.send(json.dumps({"type": "join", "link": booking.link, "name": name}))
            at = await asyncio.wait_for(heard, PROBE_TIMEOUT)
            samples.append((at - sent) * 1000)
        finally:
            await ws.close()
        await asyncio.sleep(PROBE_PAUSE)
    return samples


async def measure(server: Server) -> None:
    session = server.sign_in()
    bookings = [book_protected_meeting(server, f"Lobby {m}", session=session) for m in range(MEETINGS)]
    hosts = []
    for booking in bookings:
        ws = await websockets.connect(
            server.ws_url(booking.meeting_id), additional_headers={"Cookie": f"vm_session={session}"}
        )
        await ws.send(json.dumps({"type": "join"}))
        answer = json.loads(await ws.recv())
        if answer.get("type") != "joined":
            raise RuntimeError(f"the host could not join: {answer}")
        hosts.append(Host(ws))
    await asyncio.sleep(1)
    pid = server.process.pid
    print(f"server pid {pid}: open files {open_files_limit(pid)}", flush=True)
    baseline = rss_kib(pid)
    guests: list[Guest] = []
    try:
        for level in SOCKETS:
            started = time.monotonic()
            try:
                async with asyncio.timeout(OPEN_BUDGET):
                    guests += await open_guests(server, bookings, len(guests), level - len(guests))
            except (TimeoutError, OSError, RuntimeError) as e:
                print(
                    f"sockets={level}: only {len(guests)} opened in {OPEN_BUDGET:.0f} s ({e!r})", flush=True
                )
                return
            opened = time.monotonic() - started
            await asyncio.sleep(2)  # the joins' audit entries are written
            print(f"sockets={level} open; probing", file=sys.stderr, flush=True)
            samples = await probe(server, bookings, hosts, level)
            kib = (rss_kib(pid) - baseline) / level
            print(
                f"sockets={level} notify_p50_ms={statistics.median(samples):.1f} "
                f"notify_p99_ms={percentile(samples, 99):.1f} kib_per_socket={kib:.1f} "
                f"(opened in {opened:.1f} s, max {max(samples):.1f} ms)",
                flush=True,
            )
    finally:
        for chunk in range(0, len(guests), 500):
            await asyncio.gather(*(g.close() for g in guests[chunk : chunk + 500]), return_exceptions=True)
        await asyncio.gather(*(h.close() for h in hosts), return_exceptions=True)


def main() -> int:
    """main raises the open-files limit, enters the test namespace, starts the server and measures."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"open files: {soft} raised to {hard} (the server inherits it)", flush=True)
    with (
        enter_test_namespace(),
        tempfile.TemporaryDirectory(prefix="vardmote-lobby-") as folder,
        serve(
            Path(folder) / "var",
            media=True,
            env={
                "VARDMOTE_LOBBY_LIMIT": str(PER_LOBBY + 10),
                "VARDMOTE_CONNECTIONS_PER_ADDRESS": str(max(SOCKETS) + MEETINGS + 100),
            },
        ) as server,
    ):
        asyncio.run(measure(server))
    return 0


if __name__ == "__main__":
    sys.exit(main())
