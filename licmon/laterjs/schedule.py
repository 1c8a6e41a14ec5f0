"""The parsed, immutable form of a later.js schedule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from licmon.laterjs.jsvalue import Num

# One schedule: (constraint key, values) pairs in the order later.js created them. The order
# is part of the meaning: later.js's compile step sorts stably by period length.
Definition = tuple[tuple[str, tuple[Num, ...]], ...]


def freeze(definitions: Sequence[dict[str, list[Num]]]) -> tuple[Definition, ...]:
    return tuple(tuple((key, tuple(values)) for key, values in d.items()) for d in definitions)


@dataclass(frozen=True)
class LaterSchedule:
    """A successfully parsed later.js text schedule."""

    text: str
    schedules: tuple[Definition, ...]
    exceptions: tuple[Definition, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """later.js's structure: ``{"schedules": [...], "exceptions": [...], "error": -1}``."""
        return {
            "schedules": [{k: list(v) for k, v in d} for d in self.schedules],
            "exceptions": [{k: list(v) for k, v in d} for d in self.exceptions],
            "error": -1,
        }

    def __str__(self) -> str:
        return self.text
