"""Butler's webhook `rateLimit`, held in Redis so it survives restarts and is shared by replicas.

Butler kept it in process memory under a constant key (defect 10). Here each webhook and event
has its own window, and the window remembers which delivery took it: a retry of that same
delivery must not be stopped by its own first attempt.
"""

from __future__ import annotations

import hashlib

import redis

from licmon.claims import Claims

__all__ = ["RateLimiter", "webhook_identity_of"]


def webhook_identity_of(url: str) -> str:
    """A stable name for a webhook in Redis keys: a hash, as the URL itself is a secret."""
    return hashlib.sha256(url.strip().encode()).hexdigest()[:32]


class RateLimiter:
    """At most one call per `seconds` window per (webhook, event), across processes."""

    def __init__(self, redis: redis.Redis, prefix: str = "licmon:ratelimit") -> None:
        self._windows = Claims(redis, prefix)

    def key(self, webhook_identity: str, event: str) -> str:
        return self._windows.key(f"{webhook_identity}:{event}")

    def acquire(self, webhook_identity: str, event: str, seconds: int, owner: str) -> bool:
        """True if the window was free and is now `owner`'s, or is already `owner`'s.

        `seconds <= 0` means no limit. Redis errors propagate (redis.RedisError): whether to
        send without the limiter or to retry is the caller's decision.
        """
        if seconds <= 0:
            return True
        if not owner:
            raise ValueError("owner must name the delivery taking the window")
        return self._windows.claim(f"{webhook_identity}:{event}", owner, seconds)
