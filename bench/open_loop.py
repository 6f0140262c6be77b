"""Open-loop load: requests sent at a fixed mean rate whatever the server's answers.

Clinicians opening their week do not wait for each other: requests arrive on their own
(a Poisson process), so latency at a rate has to be measured with arrivals that do not
slow down when the server does (wrk's closed loop does) and do not come in lock-step
(Debian's ``hey -q`` does: every worker's ticker fires at once, so 500/s comes as a
burst of all workers ten times a second, and its tail is the burst's length).

Each request has its planned time (exponential gaps, mean 1/RATE; ``--even`` for even
gaps); it goes out on a free keep-alive connection, or a new one (at most MAX_CONNECTIONS,
then it waits for one), and its latency counts from the planned time, not from when it
went out, so time spent waiting for the client is the server's too (no coordinated
omission). Plain HTTP/1.1 over asyncio streams, answers read by Content-Length.

``python bench/open_loop.py URL --rate 500 --seconds 10 [-H 'Name: value' ...] [--even]``
prints one JSON object: rate achieved, p50, p90, p99 and max latency in ms, requests,
errors (non-2xx answers, broken connections, answers later than TIMEOUT seconds) and
their kinds (status or exception).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

MAX_CONNECTIONS = 256
TIMEOUT = 10.0
IDLE_LIMIT = 4.0


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Pool:
    """Pool hands out keep-alive connections to one host, opening new ones up to a bound.
    A connection idle for IDLE_LIMIT seconds is closed rather than used: the server may
    have closed it (uvicorn after 5 s), as a browser's would be."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[float, Connection]] = []
        self.opened = 0
        self.freed = asyncio.Condition()

    async def take(self) -> tuple[Connection, bool]:
        """take is a connection and whether it was used before."""
        async with self.freed:
            while not self.idle and self.opened >= MAX_CONNECTIONS:
                await self.freed.wait()
            now = time.monotonic()
            while self.idle:
                since, conn = self.idle.pop()
                if now - since < IDLE_LIMIT:
                    return conn, True
                conn[1].close()
                self.opened -= 1
            self.opened += 1
        try:
            return await asyncio.open_connection(self.host, self.port), False
        except OSError:
            await self.lose()
            raise

    async def give_back(self, conn: Connection) -> None:
        async with self.freed:
            self.idle.append((time.monotonic(), conn))
            self.freed.notify()

    async def lose(self, conn: Connection | None = None) -> None:
        if conn is not None:
            conn[1].close()
        async with self.freed:
            self.opened -= 1
            self.freed.notify()


async def _exchange(pool: Pool, request: bytes) -> str:
    """_exchange sends request on a pooled connection and reads the answer: its status, or
    what went wrong. Like any HTTP client, it sends once more on a new connection when a
    used one turns out closed before any answer came."""
    while True:
        conn, used = await pool.take()
        reader, writer = conn
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise ValueError("an answer without Content-Length")
            await reader.readexactly(length)
        except asyncio.IncompleteReadError as e:
            await pool.lose(conn)
            if used and not e.partial:
                continue
            return type(e).__name__
        except (OSError, ValueError, IndexError, asyncio.LimitOverrunError) as e:
            await pool.lose(conn)
            return type(e).__name__
        await pool.give_back(conn)
        return str(status)


async def offer(
    url: str, headers: dict[str, str], rate: float, seconds: float, even: bool = False
) -> dict[str, Any]:
    """offer sends GET url at rate requests/s for seconds seconds and returns the figures."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    pool = Pool(parts.hostname or "127.0.0.1", parts.port or 80)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    loop = asyncio.get_running_loop()

    async def one(planned: float) -> None:
        try:
            outcome = await asyncio.wait_for(_exchange(pool, request), TIMEOUT)
        except TimeoutError:
            outcome = "timeout"
        if outcome.startswith("2"):
            latencies.append(loop.time() - planned)
        else:
            errors[outcome] += 1

    rng = random.Random(20261202)
    tasks: list[asyncio.Task[None]] = []
    start = loop.time() + 0.05
    planned = start
    while planned < start + seconds:
        delay = planned - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(planned)))
        planned += 1 / rate if even else rng.expovariate(rate)
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else 0.0

    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(50),
        "p90_ms": percentile(90),
        "p99_ms": percentile(99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "requests": len(latencies) + errors.total(),
        "errors": errors.total(),
        "error_kinds": dict(errors),
        "connections": pool.opened,
    }


def main() -> int:
    """main offers the load the arguments describe and prints the figures as JSON."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("url")
    args.add_argument("--rate", type=float, required=True)
    args.add_argument("--seconds", type=float, default=10)
    args.add_argument("-H", dest="headers", action="append", default=[])
    args.add_argument("--even", action="store_true", help="even gaps instead of Poisson arrivals")
    options = args.parse_args()
    headers = dict(h.split(": ", 1) for h in options.headers)
    started = time.process_time()
    run = asyncio.run
    try:
        import uvloop  # the server's event loop too: less CPU taken from the server's share

        run = uvloop.run
    except ImportError:
        pass
    figures = run(offer(options.url, headers, options.rate, options.seconds, options.even))
    figures["client_cpu_s"] = time.process_time() - started
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
