"""RateLimiter against the real Redis (db 15)."""

from __future__ import annotations

import threading
import uuid

import redis as redis_lib

from licmon.senders.ratelimit import RateLimiter, webhook_identity_of
from tests.pipeline_support import wait_for

URL = "https://hooks.example.com/services/T000/B000/secret-token?x=1"
STATUS = "server license status"
ALERT = "server license about to expire alert"


def prefix() -> str:
    return f"licmon-test:ratelimit:{uuid.uuid4().hex[:8]}"


def test_identity_is_a_stable_hash_not_the_url() -> None:
    identity = webhook_identity_of(URL)
    assert identity == webhook_identity_of(URL)
    assert identity != webhook_identity_of(URL.replace("B000", "B001"))
    assert "secret" not in identity and "hooks" not in identity
    assert len(identity) == 32 and int(identity, 16) >= 0


def test_one_call_per_window_per_webhook_and_event(redis_client: redis_lib.Redis) -> None:
    limiter = RateLimiter(redis_client, prefix())
    hook, other = webhook_identity_of(URL), webhook_identity_of(URL + "&y=2")
    assert limiter.acquire(hook, ALERT, 60, owner="check-1") is True
    assert limiter.acquire(hook, ALERT, 60, owner="check-2") is False
    # Another event on the same webhook, and the same event on another webhook, are free.
    assert limiter.acquire(hook, STATUS, 60, owner="check-2") is True
    assert limiter.acquire(other, ALERT, 60, owner="check-2") is True


def test_same_owner_is_not_blocked_by_its_own_window(redis_client: redis_lib.Redis) -> None:
    limiter = RateLimiter(redis_client, prefix())
    hook = webhook_identity_of(URL)
    assert limiter.acquire(hook, ALERT, 60, owner="check-1:alert-1")
    assert limiter.acquire(hook, ALERT, 60, owner="check-1:alert-1")  # a retried delivery
    assert not limiter.acquire(hook, ALERT, 60, owner="check-2:alert-1")
    ttl = redis_client.pttl(limiter.key(hook, ALERT))
    assert 0 < ttl <= 60_000  # the retry did not restart the window


def test_two_replicas_share_one_window_which_expires(
    redis_client: redis_lib.Redis, redis_url: str
) -> None:
    shared = prefix()
    replica_a = RateLimiter(redis_lib.Redis.from_url(redis_url), shared)
    replica_b = RateLimiter(redis_lib.Redis.from_url(redis_url), shared)
    hook = webhook_identity_of(URL)
    assert replica_a.acquire(hook, ALERT, 1, owner="a-1")
    assert not replica_b.acquire(hook, ALERT, 1, owner="b-1")
    assert not replica_a.acquire(hook, ALERT, 1, owner="a-2")
    # Redis ends the window, not a timer of ours: wait until the key is gone.
    key = replica_a.key(hook, ALERT)
    wait_for(lambda: not redis_client.exists(key), 5, "the 1 s window to expire")
    assert replica_b.acquire(hook, ALERT, 1, owner="b-2")
    assert not replica_a.acquire(hook, ALERT, 1, owner="a-3")


def test_concurrent_acquire_has_exactly_one_winner(
    redis_client: redis_lib.Redis, redis_url: str
) -> None:
    shared = prefix()
    hook = webhook_identity_of(URL)
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def contend(n: int) -> None:
        limiter = RateLimiter(redis_lib.Redis.from_url(redis_url), shared)
        barrier.wait()
        won = limiter.acquire(hook, ALERT, 30, owner=f"worker-{n}")
        with lock:
            results.append(won)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_zero_or_negative_seconds_means_no_limit(redis_client: redis_lib.Redis) -> None:
    limiter = RateLimiter(redis_client, prefix())
    hook = webhook_identity_of(URL)
    for owner in ("a", "b", "c"):
        assert limiter.acquire(hook, ALERT, 0, owner=owner)
        assert limiter.acquire(hook, ALERT, -5, owner=owner)
    assert redis_client.exists(limiter.key(hook, ALERT)) == 0
