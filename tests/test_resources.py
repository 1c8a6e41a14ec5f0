"""A process's resources: kept while in use, the least recently used closed past a bound,
and fresh in a forked child."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from licmon.bounded_http import _Watch
from licmon.resources import Resources, close_process_resources, current


class Connection:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_recent_keeps_the_most_recently_used_and_closes_the_rest() -> None:
    resources = Resources("redis://127.0.0.1:1/0")  # Redis is not touched here
    a = resources.recent("a", lambda: Connection("a"), keep=2)
    b = resources.recent("b", lambda: Connection("b"), keep=2)
    assert resources.recent("a", lambda: Connection("a again"), keep=2) is a  # reused
    c = resources.recent("c", lambda: Connection("c"), keep=2)
    assert (a.closed, b.closed, c.closed) == (False, True, False)  # b was the least recent
    assert resources.recent("b", lambda: Connection("b again"), keep=2).name == "b again"
    resources.close()
    assert a.closed and c.closed


def test_get_keeps_one_per_key_until_close() -> None:
    resources = Resources("redis://127.0.0.1:1/0")
    first = resources.get("k", lambda: Connection("k"))
    assert resources.get("k", lambda: Connection("other")) is first
    resources.close()
    assert first.closed


# --- one Process per process: a forked child starts fresh ------------------------------------


def in_child(report: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Fork; the child runs `report` and sends its answer back over a pipe as JSON."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        try:
            answer = json.dumps(report()).encode()
        except BaseException as exc:
            answer = json.dumps({"error": repr(exc)}).encode()
        finally:
            os.write(write_end, answer)
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0
    found: dict[str, Any] = json.loads(answer)
    assert "error" not in found, found["error"]
    return found


def test_a_forked_child_gets_a_fresh_process_and_the_parents_is_untouched(
    redis_url: str,
) -> None:
    parent = current()
    saved = (parent.config, parent.persistence_checked)
    config = object()
    parent.config, parent.persistence_checked = config, True
    try:
        own = parent.resources(redis_url)
        kept = own.get("kept", lambda: Connection("parent's"))
        parent_client = own.redis.client_id()
        watch = _Watch(0.01)  # starts the parent's watchdog thread
        watch.close()

        def child() -> dict[str, Any]:
            mine = current()
            fresh = mine.resources(redis_url)
            made = fresh.get("kept", lambda: Connection("child's")).name
            # Would block forever with the parent's lock: the parent holds it at the fork.
            unlocked = mine.apprise_setup.acquire(timeout=1)
            expiring = _Watch(0.05)  # only a running watchdog thread expires it
            time.sleep(0.5)
            answer = {
                "new_object": mine is not parent,
                "config_kept": mine.config is config,
                "persistence_checked": mine.persistence_checked,
                "made": made,
                "client": fresh.redis.client_id(),
                "apprise_lock_free": unlocked,
                "deadline_expired": expiring.expired,
            }
            close_process_resources()  # closes the child's, never the parent's
            return answer

        with parent.apprise_setup:
            found = in_child(child)
        assert found == {
            "new_object": True,
            "config_kept": True,
            "persistence_checked": True,
            "made": "child's",
            "client": found["client"],
            "apprise_lock_free": True,
            "deadline_expired": True,
        }
        assert found["client"] != parent_client  # a connection of its own to Redis
        # The parent's state is as it was: same object, same connections, still open.
        assert current() is parent and parent.resources(redis_url) is own
        assert own.get("kept", lambda: Connection("again")) is kept and not kept.closed
        assert own.redis.client_id() == parent_client and own.redis.ping()
    finally:
        close_process_resources()
        parent.config, parent.persistence_checked = saved
    assert kept.closed  # one close closes them all


def test_close_lets_the_next_use_open_new_resources() -> None:
    process = current()
    first = process.resources("redis://127.0.0.1:1/0")
    kept = first.get("k", lambda: Connection("k"))
    close_process_resources()
    assert kept.closed
    assert process.resources("redis://127.0.0.1:1/0") is not first
    close_process_resources()
