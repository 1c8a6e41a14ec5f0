"""Deliveries and checks that failed for good, kept in a Redis list for an operator to see
and, once the cause is fixed, to replay (`licmon deadletters --replay`).

Entries carry site, destination, target and reason, never a secret: a webhook is named by
its key, not its URL. `arguments` are the task's own (site, target key, check id, tick,
kind and the judged status), which carry no secret either (a worker looks everything else
up in its config); a replay sends the same task with them again. `taskId` names the task
that gave up, so a replay can find its letter and its claim.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
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
    taskId: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeadLetter:
        # Only the fields this version knows: a letter written by another version reads.
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    @property
    def replayable(self) -> bool:
        """Written with what a replay needs (letters of earlier versions were not)."""
        return bool(self.taskId and self.arguments)


# Remove the letter of one task id, wherever it is in the list, in one step.
_REMOVE = """
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
for _, entry in ipairs(entries) do
  local ok, letter = pcall(cjson.decode, entry)
  if ok and type(letter) == 'table' and letter['taskId'] == ARGV[1] then
    return redis.call('LREM', KEYS[1], 1, entry)
  end
end
return 0
"""


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
        return [DeadLetter.from_json(json.loads(item)) for item in raw]

    def all(self) -> list[DeadLetter]:
        return [
            DeadLetter.from_json(json.loads(item)) for item in self._redis.lrange(self.key, 0, -1)
        ]

    def remove(self, task_id: str) -> bool:
        """Drop the letter of `task_id` (its replay succeeded, or a new letter replaces it)."""
        if not task_id:
            return False
        return bool(self._redis.eval(_REMOVE, 1, self.key, task_id))

    def count(self) -> int:
        return int(self._redis.llen(self.key))

    def clear(self) -> int:
        count = self.count()
        self._redis.delete(self.key)
        return count


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
