"""Who is doing what, in Redis: the idempotency ledger of checks and deliveries.

A claim names its owner (a Celery task id). The same owner may claim again, so a task that
is retried or redelivered after a lost worker carries on; another owner (a second beat's
duplicate, a fan-out sent twice) is refused. A finished claim is marked done and refuses
everyone until it expires.
"""

from __future__ import annotations

import redis

# A claim is taken in one command: `SET key owner NX PX ms GET` (Redis 7.0 or later) sets
# the key only when it is free and answers what it held before, so taking, refusing and
# recognising the owner's own restart cost one round trip and no script. Only a restart
# (a Celery retry, or a message redelivered after its worker died) counts its starts, in a
# key of its own: the first start, by far the most common, writes nothing else.
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
        self._release = client.register_script(_RELEASE)

    def key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    def claim(self, name: str, owner: str, seconds: float) -> bool:
        """True if `name` was free and is now `owner`'s for `seconds`, or already was.

        Claiming again does not extend the claim: a rate-limit window stays as long as it
        was when first taken.
        """
        return self._take(name, owner, seconds) in (None, owner)

    def start(self, name: str, owner: str, seconds: float) -> int:
        """Claim `name` for `owner` as `claim` does, and count the owner's starts.

        Returns how many times `owner` has started under this claim (1 the first time), or
        0 when someone else holds it or it is done.
        """
        holder = self._take(name, owner, seconds)
        if holder is None:
            return 1
        if holder != owner:
            return 0
        # A restart: counted in `<claim>:starts:<owner>`, which holds every start of the
        # owner once it restarted (the first start is counted here, late).
        starts = self.key(f"{name}:starts:{owner}")
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(starts, 1, nx=True, px=int(seconds * 1000))
            pipe.incr(starts)
            pipe.pexpire(starts, int(seconds * 1000))
            return int(pipe.execute()[1])

    def _take(self, name: str, owner: str, seconds: float) -> str | None:
        """Take `name` for `owner` if it is free; what it held before (None: it was free)."""
        if not owner or owner == DONE:
            raise ValueError("a claim needs an owner (a task id)")
        held = self._redis.set(self.key(name), owner, nx=True, px=int(seconds * 1000), get=True)
        return held.decode() if isinstance(held, bytes) else held

    def complete(self, name: str, seconds: float) -> None:
        """Mark `name` done: every later claim is refused for `seconds`."""
        self._redis.set(self.key(name), DONE, px=int(seconds * 1000))

    def release(self, name: str, owner: str) -> None:
        """Give `name` up after a final failure, so a later attempt may try again."""
        self._release(keys=[self.key(name)], args=[owner])

    def holder(self, name: str) -> str | None:
        value = self._redis.get(self.key(name))
        return value.decode() if isinstance(value, bytes) else value
