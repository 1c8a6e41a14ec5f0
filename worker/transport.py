"""kombu's Redis transport, with one redis-py client per channel instead of one per command.

kombu 5.7's `Channel.conn_or_acquire` builds a new `redis.Redis` for every publish and every
acknowledgement, and each build fills a table of about 170 response callbacks: a tenth of
a worker's busy CPU in the bench, in the bare Celery app too (docs/benchmarks.md). A
`redis.Redis` holds no connection of its own (each command takes one from the channel's
pool and gives it back) and may be shared by threads, so one per channel and pool does the
same work. A pool replaced after a reconnection gets a client of its own.

`install()` (worker/app.py, at import: before any connection) makes it what kombu resolves
`redis://` and `rediss://` to, so URLs, logs and Flower still say `redis://`. kombu has no
registration call; its alias table is what it reads. Sentinel keeps kombu's transport,
whose failover switches hosts by URL. kombu is pinned (constraints.txt);
tests/test_broker_transport.py checks the reuse and a Redis restart under it.
"""

from __future__ import annotations

from typing import Any

from kombu import transport as kombu_transport
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._shared_client
        if client is None or client.connection_pool is not self.pool:
            client = self._shared_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel


def install() -> None:
    for scheme in ("redis", "rediss"):
        kombu_transport.TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
