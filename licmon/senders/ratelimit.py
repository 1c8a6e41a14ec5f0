"""Butler's webhook `rateLimit`, held in Redis so it survives restarts and is shared by replicas.

Butler kept it in process memory under a constant key (defect 10). Here each webhook and event
has its own window, and the window remembers which delivery took it: a retry of that same
delivery must not be stopped by its own first attempt.
"""

from __future__ import annotations

import hashlib

import redis

__all__ = ["RateLimiter", "webhook_identity_of"]

# Atomic take-or-check: a GET then SET from Python could let two replicas both take a window.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  return 1
end
return 0
"""


def webhook_identity_of(url: str) -> str:
    """A stable name for a webhook in Redis keys: a hash, as the URL itself is a secret."""
    return hashlib.sha256(url.strip().encode()).hexdigest()[:32]


class RateLimiter:
    """At most one call per `seconds` window per (webhook, event), across processes."""

    def __init__(self, redis: redis.Redis, prefix: str = "licmon:ratelimit") -> None:
        self._redis = redis
        self._prefix = prefix
        self._acquire = redis.register_script(_ACQUIRE)

    def key(self, webhook_identity: str, event: str) -> str:
        return f"{self._prefix}:{webhook_identity}:{event}"

    def acquire(self, webhook_identity: str, event: str, seconds: int, owner: str) -> bool:
        """True if the window was free and is now `owner`'s, or is already `owner`'s.

        `seconds <= 0` means no limit. Redis errors propagate (redis.RedisError): whether to
        send without the limiter or to retry is the caller's decision.
        """
        if seconds <= 0:
            return True
        if not owner:
            raise ValueError("owner must name the delivery taking the window")
        taken = self._acquire(
            keys=[self.key(webhook_identity, event)], args=[owner, int(seconds * 1000)]
        )
        return bool(taken)
