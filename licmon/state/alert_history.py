"""What each site told each alert target, in Redis, decided atomically.

The histories live in the site's fleet hash (`licmon:fleet:<kind>:<site>`, see
licmon/state/fleet.py), one field per target (`alert:<destination>/<target>`) holding
`licmon.core.alerts.History` as JSON, beside the check's own record: a successful check
writes its record and its targets' histories in one HSET.

A check's decision for every target of its site is optimistic: one HMGET reads the
histories and the hash's `checkId` (the last check written); the policy decides in Python;
a script writes only if `checkId` is still what was read, and the whole is done again on a
conflict. So two checks of the same site at once (two beats, a check by hand, a redelivered
task) cannot both send the same level; the same check decided twice gets the same messages
again. Every write of the hash changes `checkId` (a check's record, a failed check's, a
decision), so a conflicting write is always seen.

Four commands a check (HMGET, EVALSHA, and the script's HGET and HSET), where WATCH, HMGET,
MULTI, two HSETs and EXEC cost six: what a check costs in Redis is measured by `make bench`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import redis

from licmon.core.alerts import CheckOutcome, History, Judge, Message, decide
from licmon.state.fleet import FLEET_PREFIX, FLEET_SECONDS

# A target's field in the site's hash.
FIELD_PREFIX = "alert:"
# The histories live as long as the hash they are in.
HISTORY_SECONDS = FLEET_SECONDS
_CONFLICT_ATTEMPTS = 20
_VERSION = "checkId"

# KEYS[1] the site's hash; ARGV[1] its checkId as read ('' when it had none); ARGV[2] the
# lifetime to set in ms ('0': leave it); ARGV[3..] field, value, ...
_WRITE_IF_UNCHANGED = """
local current = redis.call('HGET', KEYS[1], 'checkId') or ''
if current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if ARGV[2] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


class AlertHistory:
    def __init__(self, client: redis.Redis, prefix: str = FLEET_PREFIX) -> None:
        self._redis = client
        self._prefix = prefix
        self._write = client.register_script(_WRITE_IF_UNCHANGED)

    def key(self, kind: str, site: str) -> str:
        return f"{self._prefix}:{kind}:{site}"

    def decide(
        self,
        kind: str,
        site: str,
        targets: Sequence[str],
        outcome: CheckOutcome,
        check_id: str,
        failures_needed: int,
        judge: Judge | None,
        record: Mapping[str, str | int] | None = None,
    ) -> dict[str, list[Message]]:
        """The messages of this check for each of `targets`, their histories stored.

        `record`: the check's own fields for the fleet view (licmon.state.fleet), written
        in the same HSET. The hash's lifetime is set once a day (the first decision of a
        UTC day, by what the histories say was decided last), not every check, as it is
        400 days."""
        if not targets:
            return {}
        key = self.key(kind, site)
        fields = [FIELD_PREFIX + target for target in targets]
        today = outcome.checked_at.date()
        for _ in range(_CONFLICT_ATTEMPTS):
            version, *stored = self._redis.hmget(key, [_VERSION, *fields])
            decided: dict[str, list[Message]] = {}
            updates: dict[str, str | int] = dict(record or {})
            refresh = False
            for target, field, raw in zip(targets, fields, stored, strict=True):
                before = History.from_json(json.loads(raw) if raw else None)
                refresh = refresh or before.seen is None or before.seen.date() != today
                messages, after = decide(before, outcome, check_id, failures_needed, judge, site)
                decided[target] = messages
                if after != before:
                    updates[field] = json.dumps(after.to_json(), separators=(",", ":"))
            if not updates:
                return decided  # nothing changed (a late or repeated decision)
            # Every write names the check, so that the next decision sees it was changed.
            updates.setdefault(_VERSION, check_id)
            arguments: list[str | int] = [
                _text(version),
                HISTORY_SECONDS * 1000 if refresh else 0,
            ]
            for name, value in updates.items():
                arguments += [name, value]
            if self._write(keys=[key], args=arguments):
                return decided
        raise redis.WatchError(f"{key}: changed by others {_CONFLICT_ATTEMPTS} times in a row")


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
