"""The tests' Redis (redis_server.py): it starts without persistence, the async client reaches
it, and kill and start take it away and bring it back on the same address."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis
import redis.exceptions

from redis_server import running_redis


async def test_redis_runs_without_persistence_and_comes_back_after_a_kill(tmp_path: Path) -> None:
    with running_redis(tmp_path) as server:
        assert server.url.startswith("redis://127.0.0.1:")
        client = aioredis.Redis.from_url(server.url)
        try:
            assert await client.set("k", "v")
            assert await client.get("k") == b"v"
            assert await client.config_get("save") == {"save": ""}
            assert await client.config_get("appendonly") == {"appendonly": "no"}

            server.kill()
            assert not server.up()
            try:
                await client.get("k")
                raise AssertionError("Redis answered after it was killed")
            except redis.exceptions.ConnectionError:
                pass

            server.start()
            assert await client.get("k") is None  # nothing was saved
        finally:
            await client.aclose()
    assert not server.up()
    assert not list(server.folder.glob("*.rdb"))
