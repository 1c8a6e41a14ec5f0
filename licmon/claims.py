"""Who is doing what, in Redis: the idempotency ledger of checks and deliveries.

A claim names its owner (a Celery task id). The same owner may claim again, so a task that
is retried or redelivered after a lost worker carries on; another owner (a second beat's
duplicate, a fan-out sent twice) is refused. A finished claim is marked done and refuses
everyone until it expires.
"""

from __future__ import annotations

import redis

# Atomic take-or-check: a GET then SET from Python could let two workers both take a claim.
_CLAIM = """
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
# The same, and in the same round trip: count this owner's starts (a redelivered message
# starts again under the same task id), so a message that keeps killing its worker is seen.
_START = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
elseif holder ~= ARGV[1] then
  return 0
end
local starts = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return starts
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
DONE = "done"


class Claims:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._claim = client.register_script(_CLAIM)
        self._start = client.register_script(_START)
        self._release = client.register_script(_RELEASE)

    def key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    def claim(self, name: str, owner: str, seconds: float) -> bool:
        """True if `name` was free and is now `owner`'s for `seconds`, or already was.

        Claiming again does not extend the claim: a rate-limit window stays as long as it
        was when first taken.
        """
        if not owner or owner == DONE:
            raise ValueError("a claim needs an owner (a task id)")
        return bool(self._claim(keys=[self.key(name)], args=[owner, int(seconds * 1000)]))

    def start(self, name: str, owner: str, seconds: float) -> int:
        """Claim `name` for `owner` as `claim` does, and count the owner's starts.

        Returns how many times `owner` has started under this claim (1 the first time), or
        0 when someone else holds it or it is done.
        """
        if not owner or owner == DONE:
            raise ValueError("a claim needs an owner (a task id)")
        keys = [self.key(name), self.key(f"{name}:starts:{owner}")]
        return int(self._start(keys=keys, args=[owner, int(seconds * 1000)]))

    def complete(self, name: str, seconds: float) -> None:
        """Mark `name` done: every later claim is refused for `seconds`."""
        self._redis.set(self.key(name), DONE, px=int(seconds * 1000))

    def release(self, name: str, owner: str) -> None:
        """Give `name` up after a final failure, so a later attempt may try again."""
        self._release(keys=[self.key(name)], args=[owner])

    def holder(self, name: str) -> str | None:
        value = self._redis.get(self.key(name))
        return value.decode() if isinstance(value, bytes) else value
