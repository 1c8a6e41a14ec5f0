"""Which beat leads: a lease in Redis that the leader renews and anyone may read.

The lease is one hash (`token`, `host`, `pid`, `ttl`) with an expiry. Its holder renews it;
when the holder dies the key expires and the next beat to ask becomes the leader. Taking,
renewing and giving it up are single Lua scripts, so two beats can never both believe a
renewal or a release of the other's lease. The lease's age (time since its last renewal)
is read from the key's own remaining time, so no two machines' clocks are compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import redis

from licmon.core.text import printable
from licmon.state.untrusted import malformed

LEASE_KEY = "licmon:beat:lease"

_HOLD = """
local holder = redis.call('HGET', KEYS[1], 'token')
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 'renewed'
end
if holder then
  return 'standby'
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'host', ARGV[2], 'pid', ARGV[3], 'ttl', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 'acquired'
"""
_RELEASE = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Role(StrEnum):
    ACQUIRED = "acquired"
    RENEWED = "renewed"
    STANDBY = "standby"


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    # Seconds since the holder last renewed the lease.
    age_seconds: float


class Lease:
    def __init__(self, client: redis.Redis, seconds: float, key: str = LEASE_KEY) -> None:
        self._redis = client
        self.key = key
        self.seconds = seconds
        self._hold = client.register_script(_HOLD)
        self._release = client.register_script(_RELEASE)

    def hold(self, token: str, host: str, pid: int) -> Role:
        """Renew the lease if `token` holds it, take it if nobody does; else standby."""
        answer = self._hold(keys=[self.key], args=[token, host, pid, int(self.seconds * 1000)])
        return Role(answer.decode() if isinstance(answer, bytes) else answer)

    def release(self, token: str) -> bool:
        """Give the lease up, if `token` still holds it, so a standby need not wait."""
        return bool(self._release(keys=[self.key], args=[token]))

    def holder(self) -> Holder | None:
        with self._redis.pipeline() as pipe:
            pipe.hgetall(self.key)
            pipe.pttl(self.key)
            fields, remaining = pipe.execute()
        if not fields or remaining < 0:
            return None
        values = {
            key.decode("utf-8", "replace"): value.decode("utf-8", "replace")
            for key, value in fields.items()
        }
        try:
            ttl, pid = int(values["ttl"]), int(values["pid"])
        except (KeyError, ValueError):
            # Not written by a beat of ours: nobody known leads (the key expires by itself).
            malformed(self.key, ["ttl or pid"])
            return None
        age = max(0, ttl - remaining) / 1000
        return Holder(host=printable(values.get("host", ""), 255), pid=pid, age_seconds=age)
