"""Sending-the-link benchmark: how long "Skicka anslutningslänk" and the patient inbox take.

Starts ``vardmote serve`` (tests/servers.py, in demo mode, in the tests' network namespace:
tests/netns.py, as root) on a free loopback port with a fresh SQLite file (or a fresh database
on the PostgreSQL server in ``VARDMOTE_TEST_DATABASE_URL``, or the database in
``VARDMOTE_DATABASE_URL``), its invitations going to a real SMTP server (aiosmtpd) in this
process. As annika it books MEETINGS meetings (``python bench/sending.py N``: N, default 40)
through the API and on each meeting page sends: a message to the demo adult's inbox, a
calendar invitation to an external address (through SMTP), and one the guard refuses (a
personnummer in the message). Then the adult signs in to the inbox and the message list and
each message are read. Last line::

    inbox_send_p50_ms=… calendar_send_p50_ms=… refused_p50_ms=… inbox_list_p50_ms=… message_p50_ms=…
    guard_2000_chars_us=…
"""

from __future__ import annotations

import datetime as dt
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test helpers

import httpx
from aiosmtpd.controller import Controller

from machine import free_tcp_port
from netns import enter_test_namespace
from servers import serve
from vardmote.invitations.guard import find_personal_data

TZ = ZoneInfo("Europe/Stockholm")
MEETINGS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
ADULT = "19900602-2397"
"""The demo's adult patient (Skatteverket's test number)."""
GUARD_RUNS = 500


class _Inbox:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def _p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def _timed(call: Callable[[], httpx.Response], expect: int) -> float:
    start = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != expect:
        raise SystemExit(f"{response.request.url}: {response.status_code}, expected {expect}")
    return elapsed


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if found is None:
        raise SystemExit("no CSRF field on the page")
    return found.group(1)


def _guard_microseconds() -> float:
    note = (
        "Välkomna till samverkansmötet. Vi går igenom planen inför skolstarten, 2024-08-19 kl 08.40. " * 22
    )[:2000]
    start = time.perf_counter()
    for _ in range(GUARD_RUNS):
        find_personal_data(note, today=dt.datetime.now(TZ).date())
    return (time.perf_counter() - start) / GUARD_RUNS * 1e6


def _send_three(staff: httpx.Client, path: str, address: str, samples: dict[str, list[float]]) -> None:
    """_send_three sends on one meeting page: an inbox message, a refused and a good invitation."""
    csrf = _csrf(staff.get(path).text)
    to_inbox = {
        "csrf": csrf,
        "kind": "patient",
        "personnummer": ADULT,
        "template": "skyddat-digitalt-vardmote",
    }
    samples["inbox_send"].append(_timed(lambda: staff.post(f"{path}/skicka/inkorg", data=to_inbox), 303))
    refused = {"csrf": csrf, "kind": "extern", "address": address, "note": f"Gäller {ADULT}"}
    samples["refused"].append(_timed(lambda: staff.post(f"{path}/skicka/kalender", data=refused), 422))
    good = {"csrf": csrf, "kind": "extern", "address": address}
    samples["calendar_send"].append(_timed(lambda: staff.post(f"{path}/skicka/kalender", data=good), 303))


def main() -> int:
    """main runs the benchmark in the test namespace and prints its figures."""
    with enter_test_namespace():
        return _measure()


def _measure() -> int:
    smtp = _Inbox()
    smtp_port = free_tcp_port()
    controller = Controller(smtp, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = {
        "VARDMOTE_SMTP_HOST": "127.0.0.1",
        "VARDMOTE_SMTP_PORT": str(smtp_port),
        "VARDMOTE_SMTP_STARTTLS": "0",
    }
    database_url = os.environ.get("VARDMOTE_DATABASE_URL")
    samples: dict[str, list[float]] = {k: [] for k in ("inbox_send", "calendar_send", "refused")}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="vardmote-bench-") as folder,
            serve(Path(folder) / "var", env=env, database_url=database_url) as server,
            httpx.Client(base_url=server.url, timeout=20) as staff,
            httpx.Client(base_url=server.url, timeout=20) as patient,
        ):
            token = staff.post("/api/v1/session", json={"username": "annika", "password": "demo"}).json()[
                "token"
            ]
            staff.cookies.set("vm_session", token)
            day = dt.datetime.now(TZ).date() + dt.timedelta(days=1)
            for i in range(MEETINGS):
                start = dt.datetime.combine(day + dt.timedelta(days=i // 10), dt.time(8)) + dt.timedelta(
                    minutes=40 * (i % 10)
                )
                body = {
                    "title": f"Uppföljning {i}",
                    "start": start.isoformat(timespec="minutes"),
                    "end": (start + dt.timedelta(minutes=30)).isoformat(timespec="minutes"),
                    "type_key": "vardmote_patient",
                }
                (meeting,) = staff.post(
                    "/api/v1/meetings", json=body, headers={"Authorization": f"Bearer {token}"}
                ).json()
                _send_three(staff, f"/moten/{meeting['id']}", f"socialtjansten{i}@kommun.example.se", samples)
            login = patient.get("/inkorg/logga-in")
            patient.post("/inkorg/logga-in", data={"csrf": _csrf(login.text), "personnummer": ADULT})
            listing = [_timed(lambda: patient.get("/inkorg/meddelanden"), 200) for _ in range(MEETINGS)]
            ids = re.findall(
                r'href="/inkorg/meddelanden/(\d+)"', patient.get("/inkorg/meddelanden?sida=1").text
            )
            if not ids:
                raise SystemExit("the adult's inbox shows no messages")
            messages = [_timed(partial(patient.get, f"/inkorg/meddelanden/{m}"), 200) for m in ids]
    finally:
        controller.stop()
    guard = _guard_microseconds()
    rows = {**samples, "inbox_list": listing, "message": messages}
    print(
        f"{MEETINGS} meetings, each sent to an inbox and by SMTP ({smtp.count} mails arrived), "
        "one refusal each"
    )
    for name, values in rows.items():
        p50, p95 = _p50_p95(values)
        print(f"{name:14s} n={len(values):3d} p50={p50:7.2f} ms  p95={p95:7.2f} ms")
    print(f"guard on a 2000-character message: {guard:.0f} µs")
    print(
        " ".join(f"{name}_p50_ms={_p50_p95(values)[0]:.2f}" for name, values in rows.items())
        + f" guard_2000_chars_us={guard:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
