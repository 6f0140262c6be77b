"""Keys: every Redis key and channel vardmote uses, in one place.

All start with ``vardmote:`` so that a Redis shared with other services stays
readable. Meeting ids and process names are vardmote's own (a UUID; host,
pid and a random part), never personal data.
"""

from __future__ import annotations

PREFIX = "vardmote:"

EVENTS = f"{PREFIX}events"
"""Stream of domain events (vardmote.cluster.bus)."""

RELEASED = f"{PREFIX}released"
"""Channel: an owner let a meeting go (hand-over); processes with its people take it at once."""


def owner(meeting_id: str) -> str:
    """owner: the meeting's lease; its value is the owning process, with a time to live."""
    return f"{PREFIX}meeting:{meeting_id}:owner"


def state(meeting_id: str) -> str:
    """state: the meeting's last snapshot (room, Janus session and handles, inbox position)."""
    return f"{PREFIX}meeting:{meeting_id}:state"


def inbox(meeting_id: str) -> str:
    """inbox: stream of what the meeting's participants sent (and booking changes), in order."""
    return f"{PREFIX}meeting:{meeting_id}:inbox"


def meeting_of_inbox(key: str) -> str:
    """meeting_of_inbox undoes inbox: the meeting id in an inbox's key."""
    return key.removeprefix(f"{PREFIX}meeting:").removesuffix(":inbox")


def alive(process: str) -> str:
    """alive: set by a running process, with a short time to live."""
    return f"{PREFIX}process:{process}:alive"


def outbox(process: str) -> str:
    """outbox: channel of messages for the connections a process holds."""
    return f"{PREFIX}process:{process}:outbox"


def process_of(conn: str) -> str:
    """process_of is the process holding a connection (its id is ``<process>/<n>``)."""
    return conn.rpartition("/")[0]


def janus_up(url: str) -> str:
    """janus_up: whether a Janus node answered the last probe ("1" or "0"), with a short life."""
    return f"{PREFIX}janus:{url}:up"
