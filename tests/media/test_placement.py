"""Placement of meetings on Janus nodes (pure rules, no Janus needed)."""

from __future__ import annotations

from collections import Counter

import pytest

from vardmote.media.placement import HashPlacement, JanusNode, SingleNode, placement_from_settings
from vardmote.settings import JanusNodeSetting, Secret, Settings


def node(url: str) -> JanusNode:
    return JanusNode(url, Secret("api"), Secret("admin"))


NODES = [node(f"ws://janus-{i}.region.test:8188") for i in range(3)]
MEETINGS = [f"mote-{i:04d}" for i in range(600)]


def test_a_single_node_holds_every_meeting() -> None:
    placement = SingleNode(NODES[0])
    assert {placement.node_for(m) for m in MEETINGS[:20]} == {NODES[0]}
    assert list(placement.nodes) == [NODES[0]]


def test_hash_placement_gives_the_same_node_every_time_and_in_every_process() -> None:
    first = HashPlacement(NODES)
    second = HashPlacement(list(reversed(NODES)))
    assert all(first.node_for(m) == second.node_for(m) for m in MEETINGS)
    assert first.node_for("mote-0001").url == HashPlacement(NODES).node_for("mote-0001").url


def test_hash_placement_is_pinned_so_that_upgrades_move_no_meetings() -> None:
    placement = HashPlacement(NODES)
    assert [NODES.index(placement.node_for(m)) for m in ("mote-0001", "mote-0002", "mote-0003")] == [2, 2, 1]


def test_hash_placement_spreads_meetings_over_the_nodes() -> None:
    counts = Counter(HashPlacement(NODES).node_for(m).url for m in MEETINGS)
    assert len(counts) == 3
    assert min(counts.values()) > 150


def test_adding_a_node_moves_only_meetings_to_the_new_node() -> None:
    before = HashPlacement(NODES)
    after = HashPlacement([*NODES, node("ws://janus-new.region.test:8188")])
    moved = [m for m in MEETINGS if before.node_for(m) != after.node_for(m)]
    assert moved
    assert {after.node_for(m).url for m in moved} == {"ws://janus-new.region.test:8188"}


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        pytest.param([], "HashPlacement needs at least one node", id="none"),
        pytest.param([NODES[0], NODES[0]], "Janus node URLs must differ", id="twice"),
    ],
)
def test_hash_placement_refuses_bad_node_lists(nodes: list[JanusNode], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HashPlacement(nodes)


def test_a_node_url_must_be_a_websocket_url() -> None:
    with pytest.raises(ValueError, match="must start with ws:// or wss://, got 'http://janus:8088'"):
        node("http://janus:8088")


def test_placement_from_settings_uses_external_nodes_before_the_embedded_one() -> None:
    settings = Settings(
        janus_nodes=tuple(JanusNodeSetting(n.url, n.api_secret, n.admin_key) for n in NODES[:2])
    )
    placement = placement_from_settings(settings, embedded=node("ws://127.0.0.1:8188"))
    assert isinstance(placement, HashPlacement)
    assert {n.url for n in placement.nodes} == {NODES[0].url, NODES[1].url}
    embedded = node("ws://127.0.0.1:8188")
    assert placement_from_settings(Settings(), embedded).node_for("mote") == embedded
    with pytest.raises(ValueError, match="no Janus nodes are configured"):
        placement_from_settings(Settings())
