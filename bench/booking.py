"""Booking benchmark: request latency of booking and of the week view, through a real server.

Starts ``vardmote serve`` (tests/servers.py, in demo mode, in the tests' network
namespace: tests/netns.py, as root) on a free loopback port with a fresh SQLite
file (or a fresh database on the PostgreSQL server in ``VARDMOTE_TEST_DATABASE_URL``,
or the database in ``VARDMOTE_DATABASE_URL``), signs in over the API as annika, then
times a bounded number of requests of each kind (``python bench/booking.py N``: N
of each, default 200) and prints percentiles. The health
check, which touches the database with a single ``SELECT 1``, is the raw path
the others are compared with. Last line::

    book_p50_ms=… week_api_p50_ms=… calendar_page_p50_ms=… healthz_p50_ms=… book_ratio=…
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test helpers

import httpx

from netns import enter_test_namespace
from servers import serve

TZ = ZoneInfo("Europe/Stockholm")
BOOKINGS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
READS = BOOKINGS


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def _time(n: int, call: Callable[[int], httpx.Response]) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        response = call(i)
        out.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return out


def main() -> int:
    """main runs the benchmark in the test namespace and prints its figures."""
    with enter_test_namespace():
        return _measure()


def _measure() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="vardmote-bench-") as folder,
        serve(Path(folder) / "var", database_url=os.environ.get("VARDMOTE_DATABASE_URL")) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        token = server.sign_in()
        auth = {"Authorization": f"Bearer {token}"}
        today = dt.datetime.now(TZ).date()
        monday = today + dt.timedelta(days=7 - today.weekday())

        def book(i: int) -> httpx.Response:
            day = monday + dt.timedelta(days=i % 5)
            start = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(minutes=3 * (i // 5))
            end = start + dt.timedelta(minutes=30)
            return client.post(
                "/api/v1/meetings",
                headers=auth,
                json={
                    "title": f"Möte {i}",
                    "start": start.isoformat(timespec="minutes"),
                    "end": end.isoformat(timespec="minutes"),
                    "type_key": "vardmote_patient",
                },
            )

        booked = _time(BOOKINGS, book)
        week = {"from": monday.isoformat(), "to": (monday + dt.timedelta(days=7)).isoformat()}
        week_api = _time(READS, lambda i: client.get("/api/v1/meetings", headers=auth, params=week))
        page_cookie = {"vm_session": token}
        calendar_page = _time(
            READS,
            lambda i: client.get("/kalender", params={"vecka": monday.isoformat()}, cookies=page_cookie),
        )
        healthz = _time(READS, lambda i: client.get("/healthz"))
    rows = {"book": booked, "week_api": week_api, "calendar_page": calendar_page, "healthz": healthz}
    print(f"{BOOKINGS} protected meetings booked in one week; {READS} reads of each kind")
    for name, samples in rows.items():
        p50, p95 = _percentiles(samples)
        print(f"{name:14s} p50={p50:7.2f} ms  p95={p95:7.2f} ms")
    book_p50 = _percentiles(booked)[0]
    health_p50 = _percentiles(healthz)[0]
    print(
        f"book_p50_ms={book_p50:.2f} week_api_p50_ms={_percentiles(week_api)[0]:.2f} "
        f"calendar_page_p50_ms={_percentiles(calendar_page)[0]:.2f} healthz_p50_ms={health_p50:.2f} "
        f"book_ratio={book_p50 / health_p50:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
