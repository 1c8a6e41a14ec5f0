"""Deliveries and checks that failed for good, kept in a Redis list for an operator to see.

Entries carry site, destination, target and reason, never a secret: a webhook is named by
its key, not its URL.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis

DEFAULT_KEY = "licmon:deadletters"
# Enough for weeks of a large estate failing, small enough that Redis never notices.
DEFAULT_CAP = 10_000


@dataclass(frozen=True)
class DeadLetter:
    task: str
    site: str
    destination: str
    target: str
    checkId: str
    reason: str
    attempts: int
    at: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class DeadLetters:
    def __init__(self, client: redis.Redis, key: str = DEFAULT_KEY, cap: int = DEFAULT_CAP) -> None:
        self._redis = client
        self.key = key
        self.cap = cap

    def push(self, letter: DeadLetter) -> None:
        if not letter.at:
            letter = DeadLetter(**(letter.to_json() | {"at": _now()}))
        with self._redis.pipeline() as pipe:
            pipe.lpush(self.key, json.dumps(letter.to_json()))
            pipe.ltrim(self.key, 0, self.cap - 1)
            pipe.execute()

    def newest(self, limit: int = 100) -> list[DeadLetter]:
        raw = self._redis.lrange(self.key, 0, max(limit, 1) - 1)
        return [DeadLetter(**json.loads(item)) for item in raw]

    def count(self) -> int:
        return int(self._redis.llen(self.key))

    def clear(self) -> int:
        count = self.count()
        self._redis.delete(self.key)
        return count


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
