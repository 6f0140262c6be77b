"""Journal booking benchmark: what a journal system waits for, through a real server.

Starts ``vardmote serve`` (tests/servers.py, demo mode, in the tests' network namespace,
as root) with a fresh SQLite file (or a fresh database on the PostgreSQL server in
``VARDMOTE_TEST_DATABASE_URL``), registers a journal system with ``vardmote client add`` and
times, N times each (``python bench/journal_booking.py N``, default 100): a token request
(a freshly signed RS384 client assertion), booking an Appointment (a new clinician made from
the HSA-id, a new patient, the meeting, the inbox message, the audit), reading it, searching
by the patient's personnummer (POST ``_search``) and cancelling it. Last line::

    token_p50_ms=… book_p50_ms=… read_p50_ms=… search_p50_ms=… cancel_p50_ms=…
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test helpers

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from netns import enter_test_namespace
from servers import Server, serve

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100
FHIR_JSON = "application/fhir+json"
PERSONNUMMER = "urn:oid:1.2.752.129.2.1.3.1"
HSA_ID = "urn:oid:1.2.752.29.4.19"


def _personnummer(i: int) -> str:
    """_personnummer is a valid personnummer (12 digits) of someone born 1 January 1980 + i days."""
    born = dt.date(1980, 1, 1) + dt.timedelta(days=i)
    digits = f"{born:%y%m%d}{100 + i % 800:03d}"
    total = 0
    for position, digit in enumerate(digits):
        product = int(digit) * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return f"{born:%Y%m%d}{100 + i % 800:03d}{(10 - total % 10) % 10}"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def _register(server: Server, key: RSAKey, folder: Path) -> str:
    """_register runs ``vardmote client add`` on the server's database and returns the client_id."""
    jwks = folder / "cosmic.jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VARDMOTE_")}
    env.update(
        VARDMOTE_VAR_DIR=str(server.var_dir),
        VARDMOTE_DATABASE_URL=server.database_url,
        VARDMOTE_PUBLIC_URL=server.url,
    )
    command = [str(Path(sys.executable).parent / "vardmote"), "client", "add", "Cosmic", "--jwks", str(jwks)]
    done = subprocess.run(
        [*command, "--scope", "system/Appointment.cruds"], env=env, capture_output=True, text=True, check=True
    )
    return next(line for line in done.stdout.splitlines() if len(line) == 36 and line.count("-") == 4)


def main() -> int:
    """main runs the benchmark in the test namespace and prints its figures."""
    with enter_test_namespace():
        return _measure()


def _measure() -> int:
    key = RSAKey.generate_key(2048, parameters={"kid": "cosmic-bench"}, private=True)
    env = {"VARDMOTE_FHIR_PROVISION_CLINICIANS": "1"}
    with (
        tempfile.TemporaryDirectory(prefix="vardmote-bench-") as folder,
        serve(Path(folder) / "var", env=env, database_url=os.environ.get("VARDMOTE_DATABASE_URL")) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        client_id = _register(server, key, Path(folder))
        engine = "PostgreSQL" if server.database_url.startswith("postgresql") else "SQLite"
        times: dict[str, list[float]] = {"token": [], "book": [], "read": [], "search": [], "cancel": []}

        def timed(name: str, method: str, path: str, status: int = 200, **send: Any) -> httpx.Response:
            start = time.perf_counter()
            response = client.request(method, path, **send)
            times[name].append((time.perf_counter() - start) * 1000)
            if response.status_code != status:
                raise SystemExit(f"{name}: {response.status_code} {response.text[:500]}")
            return response

        def token() -> str:
            now = int(time.time())
            claims = {
                "iss": client_id,
                "sub": client_id,
                "aud": f"{server.url}/oauth/token",
                "iat": now,
                "exp": now + 240,
                "jti": str(uuid.uuid4()),
            }
            assertion = jwt.encode({"alg": "RS384", "kid": "cosmic-bench"}, claims, key, algorithms=["RS384"])
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            }
            return str(timed("token", "POST", "/oauth/token", data=form).json()["access_token"])

        start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
        for i in range(N):
            headers = {"Authorization": f"Bearer {token()}", "Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
            number = _personnummer(i)
            body = {
                "resourceType": "Appointment",
                "status": "booked",
                "start": start.isoformat(),
                "end": (start + dt.timedelta(minutes=30)).isoformat(),
                "participant": [
                    {
                        "actor": {"identifier": {"system": PERSONNUMMER, "value": number}},
                        "status": "accepted",
                    },
                    {
                        "actor": {
                            "identifier": {"system": HSA_ID, "value": f"SE2321000016-B{i:04d}"},
                            "display": f"Läkare {i}",
                        },
                        "status": "accepted",
                    },
                ],
            }
            booked = timed(
                "book", "POST", "/fhir/r4/Appointment", 201, content=json.dumps(body), headers=headers
            )
            path = f"/fhir/r4/Appointment/{booked.json()['id']}"
            timed("read", "GET", path, headers=headers)
            bearer = {"Authorization": headers["Authorization"], "Accept": FHIR_JSON}
            search = {"patient:identifier": f"{PERSONNUMMER}|{number}"}
            timed("search", "POST", "/fhir/r4/Appointment/_search", data=search, headers=bearer)
            cancelled = json.dumps(booked.json() | {"status": "cancelled"})
            timed("cancel", "PUT", path, content=cancelled, headers=headers)
    print(f"{N} Appointments booked, read, searched and cancelled by one journal system ({engine})")
    for name, samples in times.items():
        p50, p95 = _percentiles(samples)
        print(f"{name:7s} p50={p50:7.2f} ms  p95={p95:7.2f} ms")
    print(" ".join(f"{name}_p50_ms={_percentiles(samples)[0]:.2f}" for name, samples in times.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
