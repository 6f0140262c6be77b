"""The scale-out topology of the tests and benchmarks: Redis, a Janus, two vardmote, HAProxy.

Everything is real and started here, bounded in time, on loopback and the
tests' own network namespace (media only on its veth address):

- ``redis-server`` (tests/redis_server.py) on a free loopback port;
- one Janus started as an external node (EmbeddedJanus in a folder of its own,
  with ``reclaim_session_timeout``), which both vardmote use by VARDMOTE_JANUS_URLS;
- two ``vardmote serve`` (tests/servers.py) on one database (the run's
  PostgreSQL when there is one, else one SQLite file), with VARDMOTE_REDIS_URL;
- HAProxy with the repository's deploy/haproxy.cfg (tests/haproxy.py) in front,
  round-robin, no stickiness: clients go through :attr:`Topology.front`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
from janus_fixtures import running_janus

from databases import fresh_database, postgres_server_url
from haproxy import Haproxy, running_haproxy
from redis_server import RedisServer, running_redis
from servers import Server, serve
from vardmote.media.embedded import EmbeddedJanus


@dataclass
class Topology:
    """Topology is the running scale-out set-up."""

    redis: RedisServer
    janus: list[EmbeddedJanus]
    servers: list[Server]
    haproxy: Haproxy

    @property
    def front(self) -> Server:
        """front is the service as clients reach it: through HAProxy (API calls too)."""
        return dataclasses.replace(self.servers[0], url=self.haproxy.url)

    def owner_of(self, meeting_id: str) -> Server:
        """owner_of is the vardmote process whose lease holds the meeting now."""
        with redis.Redis.from_url(self.redis.url, decode_responses=True) as client:
            process = str(client.get(f"vardmote:meeting:{meeting_id}:owner"))
        for server in self.servers:
            if f"-{server.process.pid}-" in process:
                return server
        raise LookupError(f"no server owns {meeting_id} (owner {process!r})")

    def other_than(self, server: Server) -> Server:
        """other_than is the vardmote process that is not server."""
        return next(s for s in self.servers if s is not server)


@contextlib.contextmanager
def _shared_database(folder: Path) -> Iterator[str]:
    if postgres_server_url():
        with fresh_database(postgres_server_url(), "cluster") as url:
            yield url
    else:
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{(folder / 'vardmote.sqlite3').resolve()}"


@contextlib.asynccontextmanager
async def scale_out(
    tmp_path: Path, env: dict[str, str] | None = None, *, janus_nodes: int = 1
) -> AsyncIterator[Topology]:
    """scale_out starts the topology in tmp_path (env: more settings for both vardmote;
    janus_nodes: how many Janus nodes) and stops it at the end, checking both servers' logs."""
    async with contextlib.AsyncExitStack() as nodes:
        janus: list[EmbeddedJanus] = []
        for n in range(1, janus_nodes + 1):
            folder = tmp_path / f"janus-node-{n}"
            if janus:  # every node takes the same secrets (VARDMOTE_JANUS_API_SECRET holds one)
                shared = folder / "var" / "janus" / "secrets.json"
                shared.parent.mkdir(parents=True)
                shutil.copy2(janus[0].folder / "secrets.json", shared)
            janus.append(await nodes.enter_async_context(running_janus(folder)))
        with contextlib.ExitStack() as stack:
            redis = stack.enter_context(running_redis(tmp_path / "redis"))
            database_url = stack.enter_context(_shared_database(tmp_path / "db"))
            settings = {
                "VARDMOTE_REDIS_URL": redis.url,
                "VARDMOTE_SECRET_KEY": secrets.token_urlsafe(32),  # one for all, as in production
                "VARDMOTE_JANUS_URLS": " ".join(j.node.url for j in janus),
                "VARDMOTE_JANUS_API_SECRET": janus[0].node.api_secret.reveal(),
                "VARDMOTE_JANUS_ADMIN_KEY": janus[0].node.admin_key.reveal(),
                **(env or {}),
            }
            servers = [
                stack.enter_context(
                    serve(tmp_path / f"vardmote-{n}", media=True, env=settings, database_url=database_url)
                )
                for n in (1, 2)
            ]
            backends = [s.url.removeprefix("http://") for s in servers]
            haproxy = stack.enter_context(running_haproxy(tmp_path / "haproxy", backends))
            yield Topology(redis, janus, servers, haproxy)
