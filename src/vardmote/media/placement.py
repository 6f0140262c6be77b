"""Placement: which Janus node holds a meeting's room.

A meeting lives on exactly one node, so everyone in it meets in the same
VideoRoom. The rest of vardmote asks only :class:`Placement` for
``node_for(meeting_id)``; how the answer is found stays behind that one
method, so that a placement kept in a shared store (Redis, PostgreSQL) can
replace these without touching the rules of the rooms.

- :class:`SingleNode` — one node: the embedded Janus, or one external node.
- :class:`HashPlacement` — several nodes, chosen by rendezvous hashing of the
  meeting id among the nodes that are up (:class:`NodeHealth`): every vardmote
  process picks the same node for a meeting, and a node that goes down moves
  only its own meetings, each to its next node by the same hash. It does not
  balance load by how busy nodes are.

Node health: a connection to a node that drops or cannot be made marks the
node down at once (vardmote.media.plane); the probe of vardmote.cluster marks
it up or down twice a second and shares that through Redis, so that every
process places meetings alike. A meeting's room is on its node until that
node's session is lost; then it is placed again (vardmote.rooms.live).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vardmote.settings import JanusNodeSetting, Secret, Settings


@dataclass(frozen=True)
class JanusNode:
    """JanusNode is one Janus server: where its API is and the secrets it wants."""

    url: str
    """WebSocket URL of its Janus API (ws:// or wss://)."""

    api_secret: Secret
    """Janus's ``api_secret``, sent with every request."""

    admin_key: Secret
    """The VideoRoom plugin's ``admin_key``, needed to create rooms."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"a Janus node URL must start with ws:// or wss://, got {self.url!r}")

    @classmethod
    def from_setting(cls, setting: JanusNodeSetting) -> JanusNode:
        """from_setting makes a node from one entry of Settings.janus_nodes."""
        return cls(setting.url, setting.api_secret, setting.admin_key)


class NodeHealth:
    """NodeHealth is which nodes are up, as this process last heard; unknown nodes are up."""

    def __init__(self) -> None:
        self._down: set[str] = set()

    def up(self, url: str) -> bool:
        """up tells whether the node at url is taken to be up."""
        return url not in self._down

    def mark(self, url: str, up: bool) -> None:
        """mark records that the node at url is up or down."""
        if up:
            self._down.discard(url)
        else:
            self._down.add(url)


class Placement(Protocol):
    """Placement tells which node holds a meeting; the same answer every time it is asked, while
    the nodes' health stays the same."""

    health: NodeHealth

    @property
    def nodes(self) -> Sequence[JanusNode]:
        """nodes are all the nodes meetings may be placed on (for health checks)."""
        ...

    def node_for(self, meeting_id: str) -> JanusNode:
        """node_for returns the node that holds (or will hold) the meeting's room."""
        ...


class SingleNode:
    """SingleNode places every meeting on one node."""

    def __init__(self, node: JanusNode) -> None:
        self._node = node
        self.health = NodeHealth()

    @property
    def nodes(self) -> Sequence[JanusNode]:
        return (self._node,)

    def node_for(self, meeting_id: str) -> JanusNode:
        return self._node


class HashPlacement:
    """HashPlacement places each meeting on the node whose hash with its id is highest."""

    def __init__(self, nodes: Sequence[JanusNode]) -> None:
        if not nodes:
            raise ValueError("HashPlacement needs at least one node")
        urls = [n.url for n in nodes]
        if len(set(urls)) != len(urls):
            raise ValueError(f"Janus node URLs must differ, got {urls}")
        self._nodes = tuple(nodes)
        self.health = NodeHealth()

    @property
    def nodes(self) -> Sequence[JanusNode]:
        return self._nodes

    def node_for(self, meeting_id: str) -> JanusNode:
        healthy = [n for n in self._nodes if self.health.up(n.url)] or self._nodes
        return max(healthy, key=lambda node: _weight(node.url, meeting_id))


def _weight(url: str, meeting_id: str) -> bytes:
    """_weight is the rendezvous hash of a node and a meeting; stable across processes."""
    return hashlib.sha256(url.encode() + b"\0" + meeting_id.encode()).digest()


def placement_from_settings(settings: Settings, embedded: JanusNode | None = None) -> Placement:
    """placement_from_settings places meetings on the configured external nodes, or,
    with none configured, on the embedded node (which the caller starts)."""
    if settings.janus_nodes:
        nodes = [JanusNode.from_setting(s) for s in settings.janus_nodes]
        return SingleNode(nodes[0]) if len(nodes) == 1 else HashPlacement(nodes)
    if embedded is None:
        raise ValueError("no Janus nodes are configured and no embedded Janus was given")
    return SingleNode(embedded)
