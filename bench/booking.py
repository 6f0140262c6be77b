"""Booking benchmark: request latency of booking and of the week view, through a real server.

Starts ``vardmote serve`` on a free loopback port with a fresh SQLite file (or
the database in ``VARDMOTE_DATABASE_URL``), signs in over the API, then times
a bounded number of requests of each kind and prints percentiles. The health
check, which touches the database with a single ``SELECT 1``, is the raw path
the others are compared with. Last line::

    book_p50_ms=… week_api_p50_ms=… calendar_page_p50_ms=… healthz_p50_ms=… book_ratio=…
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

BOOKINGS = 200
READS = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
    """main runs the benchmark and prints its figures."""
    var = Path(tempfile.mkdtemp(prefix="vardmote-bench-"))
    port = _free_port()
    env = {
        **os.environ,
        "VARDMOTE_VAR_DIR": str(var),
        "VARDMOTE_PORT": str(port),
        "VARDMOTE_HOST": "127.0.0.1",
        "VARDMOTE_NEW_PASSWORD": "bench-password",
    }
    vardmote = str(Path(sys.executable).with_name("vardmote"))
    subprocess.run(
        [vardmote, "user", "add", "bench", "--name", "Bench"], env=env, check=True, capture_output=True
    )
    server = subprocess.Popen(
        [vardmote, "serve", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(100):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            token = client.post(
                "/api/v1/session", json={"username": "bench", "password": "bench-password"}
            ).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            monday = dt.date.today() + dt.timedelta(days=7 - dt.date.today().weekday())

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
    finally:
        server.terminate()
        server.wait(10)
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
