"""A process's resources: kept while in use, the least recently used closed past a bound."""

from __future__ import annotations

from licmon.resources import Resources


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
