"""Join latency benchmark: from "Tillåt" to the guest's first video frame, through vardmote and direct.

Starts ``vardmote serve`` (tests/servers.py: demo mode, a fresh var folder,
its embedded Janus on free loopback ports, ICE held to the veth address of
the tests' network namespace, which this script enters first: tests/netns.py,
as root) and measures, in one run:

a. through vardmote: a host publishes; a guest waits in the lobby; the time
   from the host sending ``admit`` to the guest's first decoded video frame
   of the host (admitted, the server's subscriber offer, the answer, ICE,
   DTLS, a key frame), over RUNS guests;
b. direct: on the same Janus, a publisher and, per run, a participant who
   subscribes to it with the Janus API itself, answering with the same aiortc
   set-up as a guest's subscriber; the time from the subscribe request to the
   first decoded frame, over RUNS participants;
c. vardmote's own CPU share (its process's CPU time over wall time, from
   /proc, Janus not included) while PEOPLE participants, all admitted and
   publishing, each receive everyone else's camera for STEADY_SECONDS.

Janus asks a publisher for a key frame at most once a second, and a new
subscriber's first frame waits for one, so runs are PAUSE seconds apart in
both a and b. The figures of a and b in the last line are medians: in about
one run in four, on either path, aiortc's first DTLS flight is lost (it
starts DTLS a moment before Janus is ready) and OpenSSL resends it after 1 s,
so a mean of RUNS mostly counts how many runs that hit. Means are printed
above it.

In c the cameras send 320×240 at 15 frames a second and no microphone: the
ten clients share this one Python process, and 90 Opus decoders (or 30
frames a second) starve it so that frames are lost. vardmote carries no
media, so its figure does not depend on this.

Nothing is asserted. The clients are aiortc peers with no ICE servers, in this
process; media stays in the namespace. ``python bench/join_latency.py RUNS PEOPLE``
sets the counts (default 7 and 10). Last line::

    admit_to_first_frame_ms=… direct_ms=… ratio=… app_cpu_pct=…
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "media"))  # the media clients
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the helpers: servers, netns

from aiortc import MediaStreamTrack, RTCSessionDescription
from live_clients import PacedCamera, Person, extra_links, only_local_candidates, peer_connection
from rtc_peers import RtcPublisher

from netns import enter_test_namespace, media_address
from servers import Server, book_protected_meeting, serve
from vardmote.media import videoroom
from vardmote.media.janus import JanusClient, JanusSession
from vardmote.media.videoroom import PLUGIN, RoomControl, SubscribeTo
from vardmote.settings import Secret

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 7
PAUSE = 1.5
PEOPLE = int(sys.argv[2]) if len(sys.argv) > 2 else 10
STEADY_SECONDS = 10.0
STEADY_VIDEO = (320, 240)
STEADY_FPS = 15.0
FRAME_TIMEOUT = 10.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """cpu_seconds is the user and system CPU time of one process (its own threads, not children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14 and 15 of stat


async def through_vardmote(server: Server) -> list[float]:
    """through_vardmote: ms from the host's admit to each guest's first frame of the host."""
    session = server.sign_in()
    meeting = book_protected_meeting(server, session=session)
    tokens = extra_links(server, meeting.meeting_id, RUNS)
    host = await Person.connect(server, meeting.meeting_id, "Annika", session=session)
    samples = []
    try:
        await host.join()
        await host.publish()
        for i, link in enumerate(tokens):
            guest = await Person.connect(server, meeting.meeting_id, f"Gäst {i}")
            try:
                await guest.join(link)
                await asyncio.sleep(PAUSE)  # the guest waits in the lobby
                start = time.monotonic()
                await host.send({"type": "admit", "participant": guest.id})
                if await guest.wait_for_frames(host.id, 1, timeout=FRAME_TIMEOUT) < 1:
                    raise RuntimeError(f"guest {i} got no video within {FRAME_TIMEOUT} s")
                assert guest.first_frame_at is not None
                samples.append((guest.first_frame_at - start) * 1000)
                await guest.send({"type": "leave"})
            finally:
                await guest.close()
    finally:
        await host.close()
    return samples


async def first_frame_direct(session: JanusSession, room: str, feed: str, private_id: int) -> float:
    """first_frame_direct subscribes to feed with the Janus API itself, answering as a
    Person's subscriber does, and returns the ms from the request to the first frame."""
    handle = await session.attach(PLUGIN)
    pc = peer_connection(max_bundle=True)
    arrived = asyncio.Event()
    readers: list[asyncio.Task[None]] = []

    async def read(track: MediaStreamTrack) -> None:
        await track.recv()
        arrived.set()

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video":
            readers.append(asyncio.create_task(read(track)))

    try:
        start = time.monotonic()
        subscription = await videoroom.join_as_subscriber(
            handle, room, [SubscribeTo(feed)], private_id=private_id
        )
        assert subscription.offer is not None
        await pc.setRemoteDescription(RTCSessionDescription(subscription.offer["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = only_local_candidates(pc.localDescription.sdp, media_address())
        await videoroom.start(handle, {"type": "answer", "sdp": answer})
        try:
            async with asyncio.timeout(FRAME_TIMEOUT):
                await arrived.wait()
        except TimeoutError:
            raise RuntimeError(f"a direct subscriber got no video within {FRAME_TIMEOUT} s") from None
        return (time.monotonic() - start) * 1000
    finally:
        for reader in readers:
            reader.cancel()
        await pc.close()
        await handle.detach()


async def direct(server: Server) -> list[float]:
    """direct: ms from a subscribe request straight to Janus to the first frame."""
    keys = server.janus_secrets()
    samples = []
    async with await JanusClient.connect(server.janus_url, Secret(keys["api_secret"])) as client:
        session = await client.create_session()
        rooms = RoomControl(await session.attach(PLUGIN), Secret(keys["admin_key"]))
        await rooms.create("bench-direct")
        publisher = await RtcPublisher.join(session, "bench-direct", "Annika", publish=False)
        publisher.camera = PacedCamera(320, 240, 30.0)  # the camera the host has in a
        await publisher.publish()
        try:
            for i in range(RUNS):
                viewer = await RtcPublisher.join(session, "bench-direct", f"Gäst {i}", publish=False)
                try:
                    await asyncio.sleep(PAUSE)
                    private_id = viewer.joined.private_id
                    samples.append(
                        await first_frame_direct(session, "bench-direct", publisher.id, private_id)
                    )
                finally:
                    await viewer.close()
        finally:
            await publisher.close()
            await rooms.destroy("bench-direct")
            await session.destroy()
    return samples


async def steady_meeting(server: Server) -> tuple[float, float, float, int]:
    """steady_meeting: vardmote's and Janus's CPU % of one core, and the frames per second
    everyone received together, over STEADY_SECONDS of a meeting of PEOPLE; also how many
    of the PEOPLE × (PEOPLE - 1) streams delivered video."""
    session = server.sign_in()
    meeting = book_protected_meeting(server, session=session)
    tokens = extra_links(server, meeting.meeting_id, PEOPLE - 1)
    everyone: list[Person] = []
    try:
        host = await Person.connect(server, meeting.meeting_id, "Annika", session=session)
        everyone.append(host)
        for person in everyone:
            person.video_size, person.fps, person.microphone = STEADY_VIDEO, STEADY_FPS, False
        await host.join()
        await host.publish()
        for i, link in enumerate(tokens, 1):
            guest = await Person.connect(server, meeting.meeting_id, f"Gäst {i}")
            everyone.append(guest)
            guest.video_size, guest.fps, guest.microphone = STEADY_VIDEO, STEADY_FPS, False
            await guest.join(link)
            await host.send({"type": "admit", "participant": guest.id})
            await guest.wait_for("admitted")
            await guest.publish()
        ids = [p.id for p in everyone]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(p.frames_from(o) > 0 for p in everyone for o in ids if o != p.id):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # past the burst of key frames and renegotiations

        pid, janus_pid = server.process.pid, server.janus_pid()
        frames_before = sum(p.video_frames for p in everyone)
        app_before, janus_before, wall_before = cpu_seconds(pid), cpu_seconds(janus_pid), time.monotonic()
        await asyncio.sleep(STEADY_SECONDS)
        app_after, janus_after, wall_after = cpu_seconds(pid), cpu_seconds(janus_pid), time.monotonic()
        frames_after = sum(p.video_frames for p in everyone)
        streams = sum(1 for p in everyone for o in ids if o != p.id and p.frames_from(o) > 0)
        wall = wall_after - wall_before
        return (
            100 * (app_after - app_before) / wall,
            100 * (janus_after - janus_before) / wall,
            (frames_after - frames_before) / wall,
            streams,
        )
    finally:
        await asyncio.gather(*(p.close() for p in everyone), return_exceptions=True)


async def measure(server: Server) -> None:
    admitted = await through_vardmote(server)
    straight = await direct(server)
    app_cpu, janus_cpu, fps, streams = await steady_meeting(server)
    for label, samples in (
        ("through vardmote, admit → first frame", admitted),
        ("direct on Janus, subscribe → first frame", straight),
    ):
        print(
            f"{label} (ms): {' '.join(f'{x:.0f}' for x in samples)}; "
            f"median {statistics.median(samples):.0f}, mean {statistics.mean(samples):.0f}"
        )
    print(
        f"steady meeting of {PEOPLE}: {streams}/{PEOPLE * (PEOPLE - 1)} streams delivered video, "
        f"{fps:.0f} frames/s received in all "
        f"(sent: {STEADY_VIDEO[0]}×{STEADY_VIDEO[1]} at {STEADY_FPS:.0f}/s), "
        f"over {STEADY_SECONDS:.0f} s: vardmote {app_cpu:.2f} % of a core, Janus {janus_cpu:.1f} %"
    )
    through, raw = statistics.median(admitted), statistics.median(straight)
    print(
        f"admit_to_first_frame_ms={through:.0f} direct_ms={raw:.0f} "
        f"ratio={through / raw:.2f} app_cpu_pct={app_cpu:.2f}"
    )


def main() -> int:
    """main enters the test namespace, starts the server, runs the three measurements and
    prints the figures."""
    with (
        enter_test_namespace(),
        tempfile.TemporaryDirectory(prefix="vardmote-bench-") as folder,
        serve(Path(folder) / "var", media=True) as server,
    ):
        asyncio.run(measure(server))
    return 0


if __name__ == "__main__":
    sys.exit(main())
