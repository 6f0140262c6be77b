"""The embedded Janus: its configuration, its secrets, and its supervision."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from janus_fixtures import connected, free_tcp_port, janus_settings, listening, running_janus

from vardmote.media.embedded import (
    EmbeddedJanus,
    EmbeddedJanusError,
    load_or_make_secrets,
    only_loopback,
    write_config,
)
from vardmote.media.janus import JanusClient, JanusTimeout, JanusUnavailable

pytestmark = pytest.mark.media


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _until(condition: object, timeout: float = 10.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def test_the_configuration_loads_only_the_videoroom_echotest_and_websockets_on_loopback(
    tmp_path: Path,
) -> None:
    async with running_janus(tmp_path) as janus:
        folder = janus.folder
        settings = janus.settings
        conf = folder / "conf"
        main = (conf / "janus.jcfg").read_text()
        plugin = (conf / "janus.plugin.videoroom.jcfg").read_text()
        transport = (conf / "janus.transport.websockets.jcfg").read_text()
        secrets = json.loads((folder / "secrets.json").read_text())
        cmdline = Path(f"/proc/{janus.pid}/cmdline").read_bytes().decode()

    assert sorted(p.name for p in (folder / "plugins").iterdir()) == [
        "libjanus_echotest.so",
        "libjanus_videoroom.so",
    ]
    assert [p.name for p in (folder / "transports").iterdir()] == ["libjanus_websockets.so"]
    assert list((folder / "none").iterdir()) == []
    low, high = settings.janus_rtp_ports
    for line in (
        f'configs_folder = "{conf}"',
        f'plugins_folder = "{folder / "plugins"}"',
        f'events_folder = "{folder / "none"}"',
        f'api_secret = "{secrets["api_secret"]}"',
        f'rtp_port_range = "{low}-{high}"',
        f'ice_enforce_list = "{settings.janus_ice_interfaces}"',
        "broadcast = false",
    ):
        assert f"\t{line}\n" in main
    assert f'\tadmin_key = "{secrets["admin_key"]}"\n' in plugin
    assert "\tstring_ids = true\n" in plugin
    assert "room-" not in plugin
    for line in (
        f"ws_port = {settings.janus_ws_port}",
        'ws_ip = "127.0.0.1"',
        "admin_ws = false",
        "wss = false",
    ):
        assert f"\t{line}\n" in transport
    assert secrets["api_secret"] not in cmdline
    assert secrets["admin_key"] not in cmdline
    assert _mode(folder) == 0o700
    for private in ("secrets.json", "conf/janus.jcfg", "conf/janus.plugin.videoroom.jcfg"):
        assert _mode(folder / private) == 0o600, private


def test_secrets_are_made_once_and_reused(tmp_path: Path) -> None:
    first = load_or_make_secrets(tmp_path / "janus")
    again = load_or_make_secrets(tmp_path / "janus")
    assert first.api_secret.reveal() == again.api_secret.reveal()
    assert first.admin_key.reveal() == again.admin_key.reveal()
    assert first.api_secret.reveal() != first.admin_key.reveal()
    assert len(first.api_secret.reveal()) >= 40


def test_a_secrets_file_that_others_can_read_is_made_private(tmp_path: Path) -> None:
    made = load_or_make_secrets(tmp_path / "janus")
    (tmp_path / "janus" / "secrets.json").chmod(0o644)
    again = load_or_make_secrets(tmp_path / "janus")
    assert _mode(tmp_path / "janus" / "secrets.json") == 0o600
    assert again.api_secret.reveal() == made.api_secret.reveal()


def test_an_empty_interface_list_writes_no_enforce_list(tmp_path: Path) -> None:
    settings = dataclasses.replace(janus_settings(tmp_path), janus_ice_interfaces="")
    conf = write_config(
        settings, load_or_make_secrets(tmp_path / "janus"), libraries=(Path("/p.so"), Path("/t.so"))
    )
    assert "ice_enforce_list" not in (conf / "janus.jcfg").read_text()


@pytest.mark.parametrize(
    ("interfaces", "expected"),
    [
        ("lo", True),
        ("lo,127.0.0.1", True),
        ("eth0", False),
        ("lo,eth0", False),
        ("192.168.", False),
        ("", False),
    ],
)
def test_only_loopback_spots_lists_where_janus_would_gather_everywhere(
    interfaces: str, expected: bool
) -> None:
    assert only_loopback(interfaces) is expected


async def test_a_missing_janus_program_is_named(tmp_path: Path) -> None:
    settings = dataclasses.replace(janus_settings(tmp_path), janus_binary="janus-finns-inte")
    with pytest.raises(EmbeddedJanusError, match="the Janus program 'janus-finns-inte' was not found"):
        await EmbeddedJanus(settings).start()


async def test_a_janus_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    settings = dataclasses.replace(janus_settings(tmp_path), janus_binary="false")
    with pytest.raises(EmbeddedJanusError, match="Janus exited with 1 while starting"):
        await EmbeddedJanus(settings).start()


async def test_a_taken_port_is_named(tmp_path: Path) -> None:
    async with running_janus(tmp_path / "first") as first:
        settings = dataclasses.replace(
            janus_settings(tmp_path / "second"), janus_ws_port=first.settings.janus_ws_port
        )
        with pytest.raises(
            EmbeddedJanusError, match=f"port {first.settings.janus_ws_port} on 127.0.0.1 is taken"
        ):
            await EmbeddedJanus(settings).start()


async def test_a_killed_janus_is_restarted_and_its_clients_learn_it_is_gone(tmp_path: Path) -> None:
    async with running_janus(tmp_path, backoff=(0.2,)) as janus:
        assert janus.healthy()
        assert janus.status() == {"mode": "embedded", "url": janus.url, "up": True, "restarts": 0}
        closed: list[JanusUnavailable] = []
        client = await JanusClient.connect(janus.url, janus.node.api_secret, on_close=closed.append)
        session = await client.create_session()
        first_pid = janus.pid
        assert first_pid is not None

        os.kill(first_pid, signal.SIGSTOP)  # so that the next request is still waiting when it dies
        waiting = asyncio.create_task(session.attach("janus.plugin.videoroom"))
        await asyncio.sleep(0.1)
        os.kill(first_pid, signal.SIGKILL)

        with pytest.raises(JanusUnavailable) as dropped:
            await waiting
        assert not isinstance(dropped.value, JanusTimeout)  # it failed because the connection dropped
        await _until(lambda: client.closed)
        assert len(closed) == 1
        assert session.ended
        await _until(lambda: janus.healthy() and janus.restarts == 1)
        assert janus.pid != first_pid
        assert janus.status()["up"] is True
        async with connected(janus) as again:
            await again.create_session()

        second_pid = janus.pid
        assert second_pid is not None
        os.kill(second_pid, signal.SIGKILL)  # and it keeps watching after a restart
        await _until(lambda: janus.healthy() and janus.restarts == 2)
        assert janus.pid not in (first_pid, second_pid)


async def test_a_janus_that_stops_answering_is_killed_and_restarted(tmp_path: Path) -> None:
    async with running_janus(tmp_path, probe_interval=0.2, probe_failures=2) as janus:
        frozen = janus.pid
        assert frozen is not None
        os.kill(frozen, signal.SIGSTOP)
        await _until(lambda: not janus.healthy(), timeout=3)
        await _until(lambda: janus.healthy() and janus.restarts == 1)
        assert janus.pid != frozen
        assert not Path(f"/proc/{frozen}").exists()


async def test_stop_ends_janus_and_reports_it_down(tmp_path: Path) -> None:
    async with running_janus(tmp_path) as janus:
        pid = janus.pid
    assert pid is not None
    assert not Path(f"/proc/{pid}").exists()
    assert not janus.healthy()
    assert janus.status()["up"] is False
    assert not (janus.folder / "janus.pid").exists()
    with pytest.raises(JanusUnavailable):
        await JanusClient.connect(janus.url, timeout=1.0)


async def test_a_janus_left_running_by_a_crashed_vardmote_is_ended_at_start(tmp_path: Path) -> None:
    settings = dataclasses.replace(janus_settings(tmp_path), janus_ws_port=free_tcp_port())
    folder = (settings.var_dir / "janus").resolve()
    conf = write_config(settings, load_or_make_secrets(folder))
    leftover = subprocess.Popen(
        ["janus", "--configs-folder", str(conf), "--config", str(conf / "janus.jcfg")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(5):  # a leftover is a Janus that runs, not one still starting
            while not listening(settings.janus_ws_port):
                await asyncio.sleep(0.05)
        (folder / "janus.pid").write_text(f"{leftover.pid}\n")
        janus = EmbeddedJanus(settings)
        await janus.start()
        try:
            assert leftover.wait(timeout=5) == -signal.SIGKILL
            assert janus.healthy()
            assert janus.pid != leftover.pid
        finally:
            await janus.stop()
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()
