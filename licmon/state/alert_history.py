"""What each site told each alert target, in Redis, decided atomically.

`licmon:alerts:<kind>:<site>` is a hash with one field per target (`<destination>/<target>`)
holding `licmon.core.alerts.History` as JSON. A check's decision for every target of its
site is one optimistic transaction (WATCH, read, decide, MULTI/EXEC, again on a conflict):
two checks of the same site at once (two beats, a check by hand, a redelivered task) cannot
both send the same level; the same check decided twice gets the same messages again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import redis

from licmon.core.alerts import CheckOutcome, History, Judge, Message, decide

ALERTS_PREFIX = "licmon:alerts"
# Outlives any schedule; a site removed from the config leaves its history this long.
HISTORY_SECONDS = 400 * 24 * 3600
_CONFLICT_ATTEMPTS = 20


class AlertHistory:
    def __init__(self, client: redis.Redis, prefix: str = ALERTS_PREFIX) -> None:
        self._redis = client
        self._prefix = prefix

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
    ) -> dict[str, list[Message]]:
        """The messages of this check for each of `targets`, their histories stored."""
        if not targets:
            return {}
        key = self.key(kind, site)

        def transaction(pipe: redis.client.Pipeline) -> dict[str, list[Message]]:
            stored = pipe.hmget(key, list(targets))
            decided: dict[str, list[Message]] = {}
            updates: dict[str, str] = {}
            for target, raw in zip(targets, stored, strict=True):
                before = History.from_json(json.loads(raw) if raw else None)
                messages, after = decide(before, outcome, check_id, failures_needed, judge, site)
                decided[target] = messages
                if after != before:
                    updates[target] = json.dumps(after.to_json(), separators=(",", ":"))
            pipe.multi()
            if updates:
                pipe.hset(key, mapping=updates)
            pipe.expire(key, HISTORY_SECONDS)
            return decided

        return _transaction(self._redis, key, transaction)


def _transaction(
    client: redis.Redis,
    key: str,
    body: Callable[[redis.client.Pipeline], dict[str, list[Message]]],
) -> dict[str, list[Message]]:
    # redis-py's `transaction` retries on WatchError forever; ours gives up after a bound.
    for _ in range(_CONFLICT_ATTEMPTS):
        with client.pipeline() as pipe:
            try:
                pipe.watch(key)
                result = body(pipe)
                pipe.execute()
                return result
            except redis.WatchError:
                continue
    raise redis.WatchError(f"{key}: changed by others {_CONFLICT_ATTEMPTS} times in a row")
