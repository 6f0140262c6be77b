"""Failover benchmark: what a meeting notices when a vardmote process or a Janus node dies.

Each run starts its own scale-out topology (tests/media/scale_out.py: Redis, two
Janus nodes, two ``vardmote serve`` on one database with VARDMOTE_REDIS_URL,
HAProxy round-robin in front), in the tests' network namespace (tests/netns.py,
as root), and holds a meeting there: Annika (demo staff, the host) and two
guests, David and Sara, all publishing camera and microphone (aiortc peers of
tests/media/live_clients.py, through HAProxy), everyone receiving everyone. Once
each has video from both others, the run measures:

a. ``media_gap_ms``: the meeting's owner process (its Redis lease) is killed with
   SIGKILL. Each person whose WebSocket closes within 3 s does what the page does:
   resumes at once through HAProxy with its resume token and ``keep_media``,
   keeping its PeerConnections. 2 s after the last of them is back, the figure
   is the longest time, from the kill on, that any of the three went without a
   decoded video frame (from anyone). Goal 0, at most 500.
b. ``signalling_back_ms``: from the kill until the host can run the meeting
   again, measured on the host's own messages (each stamped as it arrives):
   - if the host's WebSocket closed (it was on the killed process, as it is
     whenever the host joined first and so made that process the owner): until
     the host holds a participant list with all three as ``admitted`` — the
     ``joined`` it got on resuming, brought up to date by the ``participant``
     messages after it;
   - if it did not: until the new owner answers a host command sent right after
     the kill — ``lock`` (or ``unlock`` if the meeting is locked), sent again
     every 0.5 s unanswered — with the ``settings`` it asks for.
   Goal under 3000.
c. ``media_back_ms``: then the Janus node the meeting runs on (the owner's last
   snapshot in Redis) is stopped. Each person waits for ``media_unavailable``
   and offers again, as the page does (again every 0.3 s while the offer meets
   the dead node or goes unanswered for 2 s); the figure is the time from the
   stop until every one of the six streams (each publisher at each of the two
   others) has delivered a video frame again. Goal under 5000.

The runs are independent: each has fresh processes, a fresh database and a
fresh meeting, and c runs on the process that survived a. Nothing is asserted,
but a run that cannot measure a or b (no video, no answer within its bounds) is
reported as failed, and so is a server log with error records (tests/servers.py
checks it when the topology stops, with pytest.fail, whose reason is printed).
When video does not come back in c within MEDIA_TIMEOUT, that run's
media_back_ms is "unmeasured", with the streams that stayed dark; the medians
are over the runs that measured it. The exit status is 1 if anything was not
measured.

``python bench/failover.py RUNS`` sets the number of runs (default 3, 1 to 10);
each is bounded to RUN_TIMEOUT seconds. One line per run, then the medians and,
on the line after, their spread (min–max) over the runs::

    media_gap_ms=… signalling_back_ms=… media_back_ms=…
    spread: media_gap_ms=…–… signalling_back_ms=…–… media_back_ms=…–…
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import urllib.error
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "media"))  # the media clients
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the helpers: servers, netns

with warnings.catch_warnings():  # servers imports fastapi.testclient, which warns about httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    import pytest
    import redis
    from live_clients import Person, people
    from scale_out import Topology, scale_out

    from netns import enter_test_namespace
    from servers import book_protected_meeting

RUNS = min(max(int(sys.argv[1]) if len(sys.argv) > 1 else 3, 1), 10)
RUN_TIMEOUT = 150.0
"""Seconds one run may take, the topology's start and stop included."""
DROP_WITHIN = 3.0
SETTLE = 2.0
SIGNALLING_TIMEOUT = 15.0
MEDIA_TIMEOUT = 15.0
NAMES = ("Annika Berg", "David", "Sara")
T = TypeVar("T")


class Stamped(list[dict[str, Any]]):
    """Stamped is a Person's list of messages that also keeps when (monotonic) each arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, message: dict[str, Any]) -> None:
        self.times.append(time.monotonic())
        super().append(message)


class Unmeasured(Exception):
    """Unmeasured: a figure could not be taken within its bound."""


@dataclass
class Run:
    media_gap_ms: float
    signalling_back_ms: float
    media_back_ms: float | None
    """None: video did not come back within MEDIA_TIMEOUT (why: media_back_failure)."""
    media_back_failure: str
    how: str
    """How signalling_back_ms was taken: the host's resumed roster or a lock round trip."""
    dropped: list[str]


def stamp(person: Person) -> Stamped:
    """stamp makes person's messages a Stamped list (before anything we time arrives)."""
    stamped = Stamped()
    stamped.extend(person.messages)
    stamped.times.extend([0.0] * len(person.messages))
    person.messages = stamped
    return stamped


def meeting_node(topology: Topology, meeting_id: str) -> str:
    """meeting_node is the Janus node the meeting's owner runs it on (its last snapshot)."""
    with redis.Redis.from_url(topology.redis.url) as client:
        state = json.loads(client.get(f"vardmote:meeting:{meeting_id}:state") or b"{}")
    return str(state["media"]["node"])


async def resume(person: Person, topology: Topology, meeting_id: str, session: str | None) -> bool:
    """resume waits up to DROP_WITHIN for person's WebSocket to close and then resumes through
    HAProxy as the page does; it tells whether it had closed."""
    try:
        async with asyncio.timeout(DROP_WITHIN):
            await person.closed.wait()
    except TimeoutError:
        return False
    joined = await person.reconnect(topology.front, meeting_id, session=session)
    if joined.get("type") != "joined" or joined.get("media_kept") is not True:
        raise Unmeasured(f"{person.name} could not resume: {joined}")
    return True


async def roster_complete(messages: Stamped, mark: int) -> float:
    """roster_complete is when (monotonic) the host first held a participant list, from its
    resumed ``joined`` on, with everyone admitted."""
    deadline = time.monotonic() + SIGNALLING_TIMEOUT
    while True:
        roster: dict[str, dict[str, Any]] | None = None
        for message, at in zip(messages[mark:], messages.times[mark:], strict=True):
            if message.get("type") == "joined":
                roster = {p["id"]: p for p in message.get("participants", [])}
            elif message.get("type") == "participant" and roster is not None:
                entry = message["participant"]
                if message.get("change") == "remove":
                    roster.pop(entry["id"], None)
                else:
                    roster[entry["id"]] = entry
            else:
                continue
            if (
                roster is not None
                and sorted(str(p.get("name")) for p in roster.values()) == sorted(NAMES)
                and all(p.get("state") == "admitted" for p in roster.values())
            ):
                return at
        if time.monotonic() > deadline:
            raise Unmeasured(f"the host's participant list was not complete within {SIGNALLING_TIMEOUT} s")
        await asyncio.sleep(0.05)


async def command_answered(host: Person, messages: Stamped) -> float:
    """command_answered sends lock (or unlock) until the owner answers with the settings it asks
    for, and is when (monotonic) that answer arrived."""
    locked = False
    for message in messages:  # the latest settings the host has: joined, admitted or settings
        if message.get("type") == "settings":
            locked = bool(message.get("locked"))
        elif isinstance(message.get("settings"), dict):
            locked = bool(message["settings"].get("locked"))
    want = not locked
    deadline = time.monotonic() + SIGNALLING_TIMEOUT
    while time.monotonic() < deadline:
        mark = len(messages)
        await host.send({"type": "lock" if want else "unlock"})
        try:
            answer = await host.wait_for(
                "settings", lambda m: m.get("locked") is want, after=mark, timeout=0.5
            )
        except TimeoutError:
            continue
        return messages.times[next(i for i in range(mark, len(messages)) if messages[i] is answer)]
    raise Unmeasured(f"no answer to the host's lock within {SIGNALLING_TIMEOUT} s")


async def publish_again(person: Person) -> None:
    """publish_again offers again until it is answered (the first may still meet the dead node)."""
    while True:
        try:
            await person.publish(timeout=2)
            return
        except (TimeoutError, AssertionError):
            await asyncio.sleep(0.3)


async def frame_again(receiver: Person, sender: Person, seen: int) -> float:
    """frame_again is when (monotonic) receiver got a video frame of sender beyond the seen ones."""
    if await receiver.wait_for_frames(sender.id, seen + 1, timeout=MEDIA_TIMEOUT) <= seen:
        raise Unmeasured(f"{sender.name}→{receiver.name}")
    return time.monotonic()


async def janus_node_stops(topology: Topology, meeting_id: str, everyone: list[Person]) -> float:
    """janus_node_stops stops the meeting's Janus node, has everyone offer again on
    media_unavailable and is the ms until each of them has video from both others again."""
    node = meeting_node(topology, meeting_id)
    dying = next(j for j in topology.janus if j.node.url == node)
    marks = [len(p.messages) for p in everyone]
    died_at = time.monotonic()
    await dying.stop()
    for person, at in zip(everyone, marks, strict=True):
        await person.wait_error("media_unavailable", after=at, timeout=MEDIA_TIMEOUT)
    seen = {(r.name, s.name): r.frames_from(s.id) for r in everyone for s in everyone if r is not s}
    async with asyncio.timeout(MEDIA_TIMEOUT):
        await asyncio.gather(*(publish_again(p) for p in everyone))
    pairs = [(r, s) for r in everyone for s in everyone if r is not s]
    arrived = await asyncio.gather(
        *(frame_again(r, s, seen[(r.name, s.name)]) for r, s in pairs), return_exceptions=True
    )
    missing = [
        f"{s.name}→{r.name}" for (r, s), at in zip(pairs, arrived, strict=True) if not isinstance(at, float)
    ]
    if missing:
        raise Unmeasured(
            f"no video again within {MEDIA_TIMEOUT:.0f} s on {len(missing)} of 6 streams: "
            + ", ".join(missing)
        )
    flowing = [at for at in arrived if isinstance(at, float)]
    if meeting_node(topology, meeting_id) == node:
        raise Unmeasured("the meeting was not placed on the other Janus node")
    return (max(flowing) - died_at) * 1000


async def set_up(call: Callable[[], T]) -> T:
    """set_up makes an API call of the set-up, again after a 502 or 503: on a loaded machine
    HAProxy may mark a process down for a slow health check and cut the request."""
    for attempt in range(3):
        try:
            return await asyncio.to_thread(call)
        except urllib.error.HTTPError as e:
            if e.code not in (502, 503) or attempt == 2:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def one_run(folder: Path) -> Run:
    """one_run starts a topology in folder, holds the meeting there and takes the three figures."""
    async with scale_out(folder, janus_nodes=2) as topology:
        front = topology.front
        annika = await set_up(front.sign_in)
        booking = await set_up(lambda: book_protected_meeting(front, session=annika))
        meeting_id = booking.meeting_id
        async with people(front, booking, annika) as room:
            host = await room.host(publish=True)
            david = await room.admitted_guest(host, "David")
            sara = await room.admitted_guest(host, "Sara")
            everyone = [host, david, sara]
            await asyncio.gather(david.publish(), sara.publish())
            for person in everyone:
                for other in everyone:
                    if other is not person and await person.wait_for_frames(other.id, 10) < 10:
                        raise Unmeasured(f"{person.name} got no video from {other.name} at the start")
            await asyncio.sleep(1.0)  # past the first key frames and renegotiations
            messages = stamp(host)
            for person in (david, sara):
                stamp(person)

            # a. and b.: kill -9 of the meeting's owner.
            owner = topology.owner_of(meeting_id)
            mark = len(messages)
            killed_at = time.monotonic()
            await asyncio.to_thread(owner.kill)
            back = await asyncio.gather(
                *(resume(p, topology, meeting_id, annika if p is host else None) for p in everyone)
            )
            dropped = [p.name for p, was in zip(everyone, back, strict=True) if was]
            if back[0]:
                how = "host resumed, participant list complete"
                signalled_at = await roster_complete(messages, mark)
            else:
                how = "host stayed, lock answered"
                signalled_at = await command_answered(host, messages)
            await asyncio.sleep(SETTLE)  # media goes on through the take-over, and after it
            gap = max(p.longest_frame_gap(killed_at) for p in everyone)
            if topology.owner_of(meeting_id) is not topology.other_than(owner):
                raise Unmeasured("the surviving process did not take the meeting over")

            # c.: the meeting's Janus node stops.
            media_back: float | None = None
            failure = ""
            try:
                media_back = await janus_node_stops(topology, meeting_id, everyone)
            except (Unmeasured, TimeoutError) as e:
                failure = str(e) or f"no answer to an offer within {MEDIA_TIMEOUT} s"
            return Run(
                media_gap_ms=gap * 1000,
                signalling_back_ms=(signalled_at - killed_at) * 1000,
                media_back_ms=media_back,
                media_back_failure=failure,
                how=how,
                dropped=dropped,
            )


async def measure() -> int:
    runs: list[Run] = []
    failed = 0
    for n in range(1, RUNS + 1):
        with tempfile.TemporaryDirectory(prefix="vardmote-bench-failover-") as folder:
            started = time.monotonic()
            try:
                async with asyncio.timeout(RUN_TIMEOUT):
                    run = await one_run(Path(folder))
            except (Exception, pytest.fail.Exception) as e:
                failed += 1
                reason = str(e) or type(e).__name__
                print(f"run {n}: failed after {time.monotonic() - started:.0f} s: {reason}", flush=True)
                continue
        runs.append(run)
        back = (
            f"media_back_ms={run.media_back_ms:.0f}"
            if run.media_back_ms is not None
            else f"media_back_ms=unmeasured ({run.media_back_failure})"
        )
        print(
            f"run {n}: media_gap_ms={run.media_gap_ms:.0f} signalling_back_ms={run.signalling_back_ms:.0f} "
            f"({run.how}; dropped: {', '.join(run.dropped) or 'no one'}) {back}",
            flush=True,
        )
    if not runs:
        print("no run could be measured")
        return 1
    figures = {
        "media_gap_ms": [r.media_gap_ms for r in runs],
        "signalling_back_ms": [r.signalling_back_ms for r in runs],
        "media_back_ms": [r.media_back_ms for r in runs if r.media_back_ms is not None],
    }
    print(" ".join(f"{k}={statistics.median(v):.0f}" if v else f"{k}=unmeasured" for k, v in figures.items()))
    print(
        "spread: "
        + " ".join(f"{k}={min(v):.0f}–{max(v):.0f}" if v else f"{k}=–" for k, v in figures.items())
        + f" (over {len(runs)} runs; media_back_ms measured in {len(figures['media_back_ms'])})"
    )
    if failed:
        print(f"{failed} of {RUNS} runs failed")
    return 1 if failed or len(figures["media_back_ms"]) < len(runs) else 0


def main() -> int:
    """main enters the test namespace and runs the runs, each on a topology of its own."""
    # aiortc warns of every frame it cannot decode (a stream starting or moving mid-frame).
    logging.getLogger("aiortc.rtcrtpreceiver").setLevel(logging.ERROR)
    with enter_test_namespace():
        return asyncio.run(measure())


if __name__ == "__main__":
    sys.exit(main())
