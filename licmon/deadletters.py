"""Deliveries and checks that failed for good, kept in a Redis list for an operator to see
and, once the cause is fixed, to replay (`licmon deadletters --replay`).

Entries carry site, destination, target and reason, never a secret: a webhook is named by
its key, not its URL. `arguments` are the task's own (site, target key, check id, tick,
kind and the judged status), which carry no secret either (a worker looks everything else
up in its config); a replay sends the same task with them again. `taskId` names the task
that gave up, so a replay can find its letter and its claim.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

DEFAULT_KEY = "licmon:deadletters"
# Enough for weeks of a large estate failing, small enough that Redis never notices.
DEFAULT_CAP = 10_000
# A letter is a few kB (its status); anything far larger was not written by a worker.
MAX_LETTER_BYTES = 1_000_000
# How many entries one LRANGE reads: a replay of a long list streams in pages.
PAGE = 500
_TEXT_FIELDS = ("task", "site", "destination", "target", "checkId", "reason", "at", "taskId")
_REQUIRED = ("task", "site", "destination", "target", "checkId", "reason", "attempts")


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

    @classmethod
    def parse(cls, raw: bytes | str) -> DeadLetter | str:
        """The letter in `raw`, or what is wrong with it (one printable line).

        The list is read as untrusted input: anyone with access to Redis may have pushed
        anything, and one bad entry must not hide the others."""
        if len(raw) > MAX_LETTER_BYTES:
            return f"{len(raw)} bytes, more than a letter's {MAX_LETTER_BYTES}"
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return "not JSON"
        if not isinstance(data, dict):
            return "not a JSON object"
        for name in _TEXT_FIELDS:
            if not isinstance(data.get(name, ""), str):
                return f"{name} is not text"
        attempts = data.get("attempts", 0)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            return "attempts is not a count"
        if not isinstance(data.get("arguments", {}), dict):
            return "arguments is not an object"
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            return f"no {', '.join(missing)}"
        return cls.from_json(data)

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


@dataclass(frozen=True)
class Malformed:
    """An entry of the list that is not a letter: where it is and what is wrong."""

    key: str
    index: int
    problem: str

    def describe(self) -> str:
        return f"{self.key}[{self.index}]: malformed ({self.problem}); left in the list"

    def to_json(self) -> dict[str, Any]:
        return {"malformed": self.problem, "key": self.key, "index": self.index}


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

    def newest(self, limit: int = 100) -> list[DeadLetter | Malformed]:
        """The newest `limit` entries; a malformed one as `Malformed` (its place and what
        is wrong), so the others are still listed."""
        return list(itertools.islice(self.scan(), max(limit, 1)))

    def all(self) -> list[DeadLetter]:
        """Every well-formed letter (a malformed entry is left out)."""
        return [entry for entry in self.scan() if isinstance(entry, DeadLetter)]

    def scan(self, key: str | None = None) -> Iterator[DeadLetter | Malformed]:
        """Every entry, newest first, read a page at a time (memory stays at a page)."""
        key = key or self.key
        start = 0
        while True:
            page = self._redis.lrange(key, start, start + PAGE - 1)
            for offset, raw in enumerate(page):
                parsed = DeadLetter.parse(raw)
                yield (
                    Malformed(key, start + offset, parsed) if isinstance(parsed, str) else parsed
                )
            if len(page) < PAGE:
                return
            start += PAGE

    def task_ids(self) -> set[str]:
        """The task ids of the letters in the list now (the --wait poll)."""
        return {entry.taskId for entry in self.scan() if isinstance(entry, DeadLetter)}

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[str]:
        """A copy of the list as it is now, under a key of its own, removed afterwards.

        A replay reads the list in pages while workers remove replayed letters and push new
        ones: paging the live list would skip or repeat entries. COPY is one server-side
        step (Redis 6.2); without it, the live list is read (and may shift)."""
        copy = f"{self.key}:replaying:{uuid.uuid4()}"
        try:
            copied = self._redis.copy(self.key, copy)
        except redis.ResponseError:  # COPY unknown: Redis before 6.2
            yield self.key
            return
        if not copied:  # no list: nothing to replay
            yield copy
            return
        # If this process dies the copy still goes, in an hour.
        self._redis.expire(copy, 3600)
        try:
            yield copy
        finally:
            self._redis.delete(copy)

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
