"""Configuration problems: one sink, one echo policy, every problem reported together.

Both steps of loading report here: the schema's shape checks (pydantic) and the checks that
need several keys at once (a destination switched on without its host, a missing file).
Whether and how a value found in the file is quoted is decided in `Problems.add` alone, so
a secret is never echoed whichever step found the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Values under these keys are never echoed back in an error.
SECRET_KEYS = frozenset({"password", "token", "webhookURL", "url", "resultBackend", "urls"})
_UNSET = object()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (full key path, or line), and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class Problems:
    """Problems and warnings found while loading one file."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, path: str, message: str, value: Any = _UNSET) -> None:
        """Record a problem at `path`; `value`, when given, is quoted unless it may be secret."""
        last_key = path.rsplit(".", 1)[-1].split("[", 1)[0]
        if value is not _UNSET and last_key not in SECRET_KEYS:
            message += f", got {value!r}"
        self.problems.append(Problem(path, message))

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def raise_if_any(self, source: Path | None) -> None:
        if self.problems:
            raise ConfigError(source, self.problems)


class ConfigError(Exception):
    """Every problem found in one configuration file, reported together."""

    def __init__(self, source: Path | str | None, problems: list[Problem]) -> None:
        self.source = str(source) if source is not None else "<config>"
        self.problems = problems
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.problems)
        lines = [f"{self.source}: {count} problem{'s' if count != 1 else ''}"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)
