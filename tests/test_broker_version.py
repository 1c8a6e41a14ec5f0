"""The oldest broker licmon starts on: Redis 7.0, whose `SET ... NX GET` takes a claim in
one command (licmon/claims.py). An older Redis is refused at start, by name and version,
instead of failing every task. (Only the version's reading is tested here: no Redis older
than 7.0 runs on our machines.)"""

from __future__ import annotations

import pytest

from worker.persistence import version_problem

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("version", ["7.0.15", "7.2.4", "8.0.0", "10.1"])
def test_redis_7_and_later_are_accepted(version: str) -> None:
    assert version_problem(version, "127.0.0.1:6379") is None


@pytest.mark.parametrize("version", ["6.2.14", "5.0.7", "6.0"])
def test_an_older_redis_is_refused_by_version(version: str) -> None:
    problem = version_problem(version, "redis.example:6379")
    assert problem == (
        f"the broker's Redis (redis.example:6379) is version {version}; licmon needs Redis 7.0 "
        "or later (a claim is one SET ... NX GET)"
    )


@pytest.mark.parametrize("version", ["", "unknown", "7"])
def test_a_version_that_cannot_be_read_is_not_refused(version: str) -> None:
    assert version_problem(version, "127.0.0.1:6379") is None
