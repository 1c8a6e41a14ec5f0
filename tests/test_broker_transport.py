"""worker/transport.py: kombu's Redis transport with one redis-py client per channel, on a
Redis of the test's own (AOF on, a password), restarted under it."""

from __future__ import annotations

from pathlib import Path

from celery import Celery
from kombu.transport import resolve_transport

import worker.app  # noqa: F401  (installs the transport, as every licmon process does)
from tests.broker_servers import DataNode
from worker import transport

PASSWORD = "transport-pw"


def test_redis_and_rediss_resolve_to_it_and_sentinel_to_kombus() -> None:
    assert resolve_transport("redis") is transport.Transport
    assert resolve_transport("rediss") is transport.Transport
    assert resolve_transport("sentinel") is not transport.Transport


def test_one_client_per_channel_and_messages_survive_a_redis_restart(tmp_path: Path) -> None:
    node = DataNode(tmp_path / "redis", password=PASSWORD)
    node.start()
    try:
        app = Celery("transport-test", broker=f"redis://:{PASSWORD}@127.0.0.1:{node.port}/0")
        with app.connection_for_write() as connection:
            # What the worker's banner and log lines show: still a redis:// URL, masked.
            assert connection.as_uri() == f"redis://:**@127.0.0.1:{node.port}/0"
            channel = connection.default_channel
            assert isinstance(channel, transport.Channel)
            with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
                assert first is second  # kombu's own builds a client for each
            queue = connection.SimpleQueue("licmon-transport-test")
            queue.put({"n": 1})
            node.kill9()
            node.start()  # AOF, every write fsynced: the first message is still there
            queue.put({"n": 2})  # through the same client, on a new connection
            received = []
            for _ in range(2):
                message = queue.get(timeout=10)
                received.append(message.payload)
                message.ack()
            assert received == [{"n": 1}, {"n": 2}]
            queue.close()
    finally:
        node.stop()
