"""Metrics: what one vardmote process counts, in Prometheus's text format at /metrics.

Every metric lives in :data:`REGISTRY`, this module's own registry (not
prometheus-client's global one, so that nothing a library registers there
leaks out, and tests can read values by name). Two kinds:

- counted as things happen, through the functions below, which the code
  concerned calls: :func:`websocket_opened` / :func:`websocket_closed`,
  :func:`lobby_waited`, :func:`failover`, :func:`bus_event`,
  :func:`janus_node_health`;
- read at scrape time from the process's live meetings (``app.state.live``,
  which :func:`exposition` is given): how many meetings are live and how many
  participants are in the lobby, admitted, or dropped (admitted or waiting
  but their connection lost, within the reconnect window).

Each process has its own values: Prometheus scrapes every process at its own
address (behind HAProxy a scrape would reach any one of them), and sums.

No personal data: no meeting ids, names, links or addresses of people; the
labels are fixed words, bus event names and Janus node URLs (stripped of any
user, password, query or fragment).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from vardmote.rooms.room import Room

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The exposition's media type: Prometheus's text format (text/plain; version=…)."""

REGISTRY = CollectorRegistry(auto_describe=True)
"""REGISTRY holds vardmote's metrics and the process's own (CPU, memory, open files)."""

ProcessCollector(registry=REGISTRY)
disable_created_metrics()  # no *_created series beside the counters (prometheus-client's own switch)

_WEBSOCKETS = Gauge(
    "vardmote_websockets",
    "Signalling WebSockets open in this process.",
    registry=REGISTRY,
)
_LOBBY_WAIT = Histogram(
    "vardmote_lobby_wait_seconds",
    "How long guests waited in the lobby before a host let them in.",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
    registry=REGISTRY,
)
_FAILOVERS = Counter(
    "vardmote_failovers",
    "Meetings taken over: from a vardmote process that died (process) or moved off a Janus node "
    "that went down (janus_node).",
    ["kind"],
    registry=REGISTRY,
)
_JANUS_NODE_UP = Gauge(
    "vardmote_janus_node_up",
    "Whether a Janus node answered its last health check (1) or not (0).",
    ["node"],
    registry=REGISTRY,
)
_BUS_EVENTS = Counter(
    "vardmote_bus_events",
    "Events this process received on the event bus, by name.",
    ["event"],
    registry=REGISTRY,
)

FailoverKind = Literal["process", "janus_node"]
PARTICIPANT_STATES = ("lobby", "admitted", "dropped")

for _kind in ("process", "janus_node"):
    _FAILOVERS.labels(kind=_kind)  # both series from the start, at 0


def websocket_opened() -> None:
    """websocket_opened counts a signalling WebSocket accepted by this process."""
    _WEBSOCKETS.inc()


def websocket_closed() -> None:
    """websocket_closed counts one of them closed (call it once per websocket_opened)."""
    _WEBSOCKETS.dec()


def lobby_waited(seconds: float) -> None:
    """lobby_waited records how long a guest waited in the lobby before being admitted."""
    _LOBBY_WAIT.observe(max(0.0, seconds))


def failover(kind: FailoverKind) -> None:
    """failover counts a meeting taken over after its process died or moved off a failed Janus node."""
    _FAILOVERS.labels(kind=kind).inc()


def bus_event(name: str) -> None:
    """bus_event counts an event received on the bus, by its name (e.g. meeting.cancelled)."""
    _BUS_EVENTS.labels(event=name).inc()


def janus_node_health(url: str, up: bool) -> None:
    """janus_node_health sets whether the Janus node at url is up, as its health check found it."""
    _JANUS_NODE_UP.labels(node=node_label(url)).set(1 if up else 0)


def node_label(url: str) -> str:
    """node_label is a Janus URL as the node label shows it: scheme, host, port and path only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class HasRoom(Protocol):
    """HasRoom is what the counts read of a live meeting (rooms.live.LiveMeeting): its room."""

    @property
    def room(self) -> Room:
        """room holds the participants."""
        ...


class LiveRegistry(Protocol):
    """LiveRegistry is what /metrics reads of app.state.live (LiveMeetings or SharedLiveMeetings)."""

    def meetings(self) -> Sequence[HasRoom]:
        """meetings are the live meetings this process holds."""
        ...


@dataclass(frozen=True)
class LiveCounts:
    """LiveCounts is the live meetings of this process at one moment."""

    meetings: int = 0
    lobby: int = 0
    admitted: int = 0
    dropped: int = 0


def live_counts(meetings: Iterable[HasRoom]) -> LiveCounts:
    """live_counts counts the meetings that have someone in them and their participants by state:
    dropped are those whose connection is lost (lobby or admitted), the rest by their state."""
    live = lobby = admitted = dropped = 0
    for meeting in meetings:
        people = [p for p in meeting.room.participants.values() if str(p.state) in ("lobby", "admitted")]
        if people:
            live += 1
        for p in people:
            if p.conn is None:
                dropped += 1
            elif str(p.state) == "lobby":
                lobby += 1
            else:
                admitted += 1
    return LiveCounts(live, lobby, admitted, dropped)


class _LiveCollector(Collector):
    """_LiveCollector shows one LiveCounts as the two gauges read at scrape time."""

    def __init__(self, counts: LiveCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        meetings = GaugeMetricFamily(
            "vardmote_live_meetings", "Meetings with someone in them (lobby included) in this process."
        )
        meetings.add_metric([], self._counts.meetings)
        yield meetings
        participants = GaugeMetricFamily(
            "vardmote_participants",
            "Participants of this process's live meetings: in the lobby, admitted, or dropped "
            "(connection lost, within the reconnect window).",
            labels=["state"],
        )
        for state in PARTICIPANT_STATES:
            participants.add_metric([state], getattr(self._counts, state))
        yield participants


def exposition(live: LiveRegistry | None) -> bytes:
    """exposition is every metric in Prometheus's text format, the live meetings read from live
    (None when media is off: no meetings). Read live on the event loop that owns it."""
    counts = live_counts(live.meetings()) if live is not None else LiveCounts()
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_LiveCollector(counts))
    return generate_latest(scrape) + generate_latest(REGISTRY)
