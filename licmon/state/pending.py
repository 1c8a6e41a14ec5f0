"""At most one waiting check per site, and the last tick beat sent of each schedule entry.

A site whose zone has no worker must not pile up one message per tick in its queue. So a
check is published only when none of that site (and check kind) is waiting: the record
`licmon:pending:<kind>:<site>` holds the waiting message's task id and the newest check id
and tick offered since. A newer tick offered while one waits only updates the record; the
fetch task that finally runs takes the record (`take`) and checks the newest tick, once.

A record can outlive its message: someone purges a queue by hand, or a beat dies between
writing the record and publishing. So a record is trusted only while its task id is still
in its queue (or taken by a worker and not yet acknowledged); the caller looks
(`licmon.state.queues.task_ids`) and, if the message is gone, `replace`s the record's task
id and publishes a new message carrying the record's newest tick.

Beat's offers are fenced: `offer` with `lease` refuses when the caller no longer holds the
beat lease, and with `entry` it records the tick as the entry's last one, refusing a tick
that is not newer than the last recorded. Both happen in the same script as the record, so
two beats can never both send the same tick, even one that lost its lease a moment ago.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import redis

PENDING_PREFIX = "licmon:pending"
TICKS_KEY = "licmon:beat:ticks"
# A record is refreshed at every tick of its site; it expires only once the site is gone
# from every config (its entry no longer ticks), so removed sites leave nothing behind.
RECORD_SECONDS = 7 * 24 * 3600

_OFFER = """
local record, lease, ticks = KEYS[1], KEYS[2], KEYS[3]
local token, entry, check, tick = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local task, queue, ttl = ARGV[5], ARGV[6], ARGV[7]
if token ~= '' and redis.call('HGET', lease, 'token') ~= token then
  return {'not-leader', '', ''}
end
if entry ~= '' then
  local last = redis.call('HGET', ticks, entry)
  if last and last >= tick then
    return {'already', '', ''}
  end
  redis.call('HSET', ticks, entry, tick)
end
local waiting = redis.call('HGET', record, 'task')
if waiting then
  if redis.call('HGET', record, 'tick') < tick then
    redis.call('HSET', record, 'check', check, 'tick', tick)
  end
  redis.call('PEXPIRE', record, ttl)
  return {'waiting', waiting, redis.call('HGET', record, 'queue')}
end
redis.call('HSET', record, 'task', task, 'check', check, 'tick', tick, 'queue', queue)
redis.call('PEXPIRE', record, ttl)
return {'publish', task, queue}
"""
_REPLACE = """
if redis.call('HGET', KEYS[1], 'task') ~= ARGV[1] then
  return false
end
redis.call('HSET', KEYS[1], 'task', ARGV[2], 'queue', ARGV[3])
return redis.call('HMGET', KEYS[1], 'check', 'tick', 'queue')
"""
_TAKE = """
if redis.call('HGET', KEYS[1], 'task') ~= ARGV[1] then
  return false
end
local found = redis.call('HMGET', KEYS[1], 'check', 'tick', 'queue')
redis.call('DEL', KEYS[1])
return found
"""


class Outcome(StrEnum):
    PUBLISH = "publish"  # nothing of this site waits: publish the check as `task`
    WAITING = "waiting"  # `task` waits in `queue` and will run the newest tick
    ALREADY = "already"  # this entry's tick was sent before (by this or another beat)
    NOT_LEADER = "not-leader"  # the caller's lease is gone: it sends nothing


@dataclass(frozen=True)
class Offer:
    outcome: Outcome
    task: str
    queue: str


@dataclass(frozen=True)
class Check:
    """The newest check a record holds."""

    check_id: str
    tick: str
    queue: str


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class PendingChecks:
    def __init__(
        self,
        client: redis.Redis,
        prefix: str = PENDING_PREFIX,
        ticks_key: str = TICKS_KEY,
        seconds: float = RECORD_SECONDS,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self.ticks_key = ticks_key
        self._ttl_ms = int(seconds * 1000)
        self._offer = client.register_script(_OFFER)
        self._replace = client.register_script(_REPLACE)
        self._take = client.register_script(_TAKE)

    def key(self, kind: str, site: str) -> str:
        return f"{self._prefix}:{kind}:{site}"

    def offer(
        self,
        kind: str,
        site: str,
        check_id: str,
        tick: str,
        queue: str,
        task: str,
        lease: tuple[str, str] | None = None,
        entry: str | None = None,
    ) -> Offer:
        """Offer a check of `site`, to be published as `task` in `queue` if none waits.

        `lease` is `(lease key, token)`: refuse unless the token holds it. `entry` names a
        beat entry whose last tick must be older than `tick` (then becomes `tick`).
        Ticks compare as text: they are all `YYYY-MM-DDTHH:MM:SSZ`.
        """
        lease_key, token = lease if lease is not None else ("", "")
        outcome, waiting, where = self._offer(
            keys=[self.key(kind, site), lease_key or self.key(kind, site), self.ticks_key],
            args=[token, entry or "", check_id, tick, task, queue, self._ttl_ms],
        )
        return Offer(Outcome(_text(outcome)), _text(waiting), _text(where))

    def replace(self, kind: str, site: str, gone: str, task: str, queue: str) -> Check | None:
        """Point the record at a new message `task` (in `queue`) if it still names `gone`,
        whose message is lost; the record's newest check, to publish as `task`."""
        found = self._replace(keys=[self.key(kind, site)], args=[gone, task, queue])
        return Check(*(_text(value) for value in found)) if found else None

    def take(self, kind: str, site: str, task: str) -> Check | None:
        """The newest check offered while `task` waited, if `task` is the record's message;
        the record is removed, so the next tick publishes again."""
        found = self._take(keys=[self.key(kind, site)], args=[task])
        return Check(*(_text(value) for value in found)) if found else None

    def waiting(self, kind: str, site: str) -> tuple[str, Check] | None:
        """(task id, newest check) of the record, if there is one."""
        fields = self._redis.hgetall(self.key(kind, site))
        if not fields:
            return None
        values = {_text(key): _text(value) for key, value in fields.items()}
        return values["task"], Check(values["check"], values["tick"], values["queue"])

    def last_ticks(self) -> dict[str, str]:
        """Beat entry name -> the last tick sent of it, by any beat."""
        return {
            _text(name): _text(tick) for name, tick in self._redis.hgetall(self.ticks_key).items()
        }

    def forget_entries(self, keep: Iterable[str]) -> None:
        """Drop the last ticks of entries no longer scheduled (sites removed)."""
        kept = set(keep)
        gone = [name for name in self.last_ticks() if name not in kept]
        if gone:
            self._redis.hdel(self.ticks_key, *gone)
