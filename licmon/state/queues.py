"""The fetch queues: their names, and what sits in them.

Read straight from Redis in the layout of kombu's Redis transport, which this service
uses: a queue is a list of JSON envelopes; a message a worker has taken but not yet
acknowledged (`acks_late`) waits in kombu's `unacked` hash until its task ends. Nothing
here writes to a queue.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

import redis
from kombu.transport.redis import Channel

from licmon.state.untrusted import malformed

FETCH_QUEUE = "license.fetch"
FETCH_TASK = "license.fetch"


def fetch_queue(zone: str | None) -> str:
    """Where a site's checks go: its zone's queue, or the central one."""
    return f"{FETCH_QUEUE}.{zone}" if zone else FETCH_QUEUE


def _envelopes(raw_items: Iterable[bytes]) -> list[dict[str, Any]]:
    envelopes = []
    for raw in raw_items:
        try:
            envelope = json.loads(raw)
        except (ValueError, RecursionError):
            continue  # not a kombu message: nothing of ours
        if isinstance(envelope, dict):
            envelopes.append(envelope)
    return envelopes


def _task_id(envelope: dict[str, Any]) -> str | None:
    headers = envelope.get("headers") or {}
    return headers.get("id") if isinstance(headers, dict) else None


def task_ids(client: redis.Redis, queue: str) -> set[str]:
    """Ids of the tasks in `queue`, and of every task taken but not yet acknowledged."""
    with client.pipeline(transaction=False) as pipe:
        pipe.lrange(queue, 0, -1)
        pipe.hvals(Channel.unacked_key)
        queued, unacked = pipe.execute()
    envelopes = [*_envelopes(queued), *_envelopes_of_unacked(unacked)]
    return {task_id for envelope in envelopes if (task_id := _task_id(envelope))}


def _envelopes_of_unacked(values: Iterable[bytes]) -> list[dict[str, Any]]:
    # Each value is `[envelope, exchange, routing key]`.
    found = []
    for raw in values:
        try:
            envelope = json.loads(raw)[0]
        except (ValueError, IndexError, KeyError, TypeError):
            continue
        if isinstance(envelope, dict):
            found.append(envelope)
    return found


def _site_of(envelope: dict[str, Any]) -> str | None:
    """The site a `license.fetch` message is for (by keyword, as beat sends it, or first
    positional argument, as a person may)."""
    headers = envelope.get("headers") or {}
    if not isinstance(headers, dict) or headers.get("task") != FETCH_TASK:
        return None
    body = envelope.get("body")
    if not isinstance(body, str):
        return None
    try:
        properties = envelope.get("properties")
        if isinstance(properties, dict) and properties.get("body_encoding") == "base64":
            body = base64.b64decode(body).decode()
        args, kwargs, _ = json.loads(body)
    except (ValueError, TypeError):
        return None
    site = kwargs.get("site") if isinstance(kwargs, dict) else None
    if site is None and isinstance(args, list) and args:
        site = args[0]
    return site if isinstance(site, str) else None


def queued_sites(client: redis.Redis, queue: str) -> set[str]:
    """Sites with a check sitting in `queue` (not yet taken by a worker)."""
    try:
        envelopes = _envelopes(client.lrange(queue, 0, -1))
    except redis.ResponseError:  # WRONGTYPE: not a queue Celery wrote
        malformed(queue, ["(not a list)"])
        return set()
    return {site for envelope in envelopes if (site := _site_of(envelope))}


def lengths(client: redis.Redis, queues: Iterable[str]) -> dict[str, int]:
    names = list(queues)
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(name)
        # A key of another type under a queue's name (not written by Celery) is that
        # queue's problem: left out and named, the other queues still counted.
        found = pipe.execute(raise_on_error=False)
    counted = {}
    for name, length in zip(names, found, strict=True):
        if isinstance(length, redis.ConnectionError | redis.TimeoutError):
            raise length
        if isinstance(length, Exception):
            malformed(name, ["(not a list)"])
            continue
        counted[name] = int(length)
    return counted
