"""Configuration problems: one sink, one echo policy, every problem reported together.

Both steps of loading report here: the schema's shape checks (pydantic) and the checks that
need several keys at once (a destination switched on without its host, a missing file).
Whether and how a value found in the file is quoted is decided in `Problems.add` alone, so
a secret is never echoed whichever step found the problem:

- nothing is quoted under a secret-bearing key at any depth (a key named in `SECRET_KEYS`
  anywhere in the path, a field the schema declares secret, or a section holding one: a
  bare string given for `licmon.broker` or `v2Config` is as secret as the URL or token it
  replaces);
- nothing that looks like a URL with credentials or a query string is quoted, under any key;
- a mapping is described by its keys and a list by its length, never by their contents;
- what is quoted has its control characters removed and is cut to `ECHO_LIMIT` characters,
  so a file cannot write escape sequences, or megabytes, to the terminal of whoever runs
  `licmon config validate`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Values under these keys, at any depth, are never echoed back in an error. Sections that
# hold one (`broker`, `webhooks`, `auth`, `v2Config`) are found from the schema instead: a
# bare string given for them is not echoed, their other keys (`httpMethod`) still are.
SECRET_KEYS = frozenset(
    {"password", "token", "webhookURL", "url", "urls", "resultBackend", "headers"}
)
# Longest quoted value, in characters; a path's key names are cut the same way.
ECHO_LIMIT = 80
# More problems than this are counted, not listed: a file of 100 000 unknown keys must not
# print 100 000 lines.
REPORT_LIMIT = 100
UNSET = object()
# scheme://user:pass@host, or any URL with a query string (tokens live there).
_URL_WITH_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]*@")
_URL_WITH_QUERY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^?#\s]*\?")
_INDEX = re.compile(r"\[\d+\]")


def strip_controls(text: str, keep: str = "") -> str:
    """`text` without control, format (bidi overrides, zero-width) or separator characters."""
    return "".join(
        ch
        for ch in text
        if ch in keep or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp")
    )


def has_controls(text: str) -> bool:
    return strip_controls(text) != text


def looks_like_secret_url(text: str) -> bool:
    return bool(_URL_WITH_USERINFO.search(text) or _URL_WITH_QUERY.search(text))


def cap(text: str, limit: int = ECHO_LIMIT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def quote(value: Any) -> str | None:
    """How `value` is shown in a message, or None when it must not be shown at all."""
    if isinstance(value, dict):
        keys = []
        for key in value:
            shown = quote(str(key))
            if shown is not None:
                keys.append(shown)
        listed = cap(", ".join(keys)) if keys else "none shown"
        return f"a mapping with keys {listed}" if value else "an empty mapping"
    if isinstance(value, list | tuple | set | frozenset):
        count = len(value)
        return f"a list of {count} item{'s' if count != 1 else ''}"
    if isinstance(value, bytes | bytearray):
        return f"binary data ({len(value)} bytes)"
    if isinstance(value, str):
        if looks_like_secret_url(value):
            return None
        text = strip_controls(value)
        if len(text) <= ECHO_LIMIT:
            return repr(text)
        return f"{text[:ECHO_LIMIT]!r}… ({len(text)} characters)"
    if value is None or isinstance(value, bool | int | float):
        return cap(repr(value))
    # Dates and times YAML recognised on its own, and anything else a loader may build.
    text = strip_controls(str(value))
    return None if looks_like_secret_url(text) else cap(text)


def path_keys(path: str) -> list[str]:
    """The key names in `Butler.x.webhooks[0].webhookURL`, without list positions."""
    return [part for part in _INDEX.sub(".", path).split(".") if part]


def clean_key(key: Any) -> str:
    """A key name as it may appear in a path: visible characters only, capped."""
    text = strip_controls(str(key))
    return "(a URL)" if looks_like_secret_url(text) else cap(text)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (full key path, or line), and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class Problems:
    """Problems and warnings found while loading one file.

    `secret_paths`: key paths (without list positions) of the fields the schema declares
    secret (see `licmon.config.schema.secret_paths`).
    """

    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    secret_paths: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._sections = _ancestors(self.secret_paths)
        self._seen: set[Problem] = set(self.problems)

    def add(self, path: str, message: str, value: Any = UNSET) -> None:
        """Record a problem at `path`; `value`, when given, is quoted unless it may be secret."""
        message = strip_controls(message, keep="\n")
        if value is not UNSET and not self.is_secret(path):
            shown = quote(value)
            if shown is not None:
                message += f", got {shown}"
        problem = Problem(strip_controls(path), message)
        # One variable may fill two keys (LICMON_INFLUXDB_TOKEN: v2Config and v3Config).
        if problem not in self._seen:
            self._seen.add(problem)
            self.problems.append(problem)

    def is_secret(self, path: str) -> bool:
        keys = path_keys(path)
        if any(key in SECRET_KEYS for key in keys):
            return True
        # A section holding a secret (given as a bare string, it may be the secret), a secret
        # field, or anything below one.
        joined = ".".join(keys)
        if joined in self._sections:
            return True
        return any(".".join(keys[:end]) in self.secret_paths for end in range(1, len(keys) + 1))

    def warn(self, message: str) -> None:
        # Once: a connection section is read once per check kind that uses it.
        message = strip_controls(message)
        if message not in self.warnings:
            self.warnings.append(message)

    def raise_if_any(self, source: Path | None) -> None:
        if self.problems:
            raise ConfigError(source, self.problems)


def _ancestors(paths: Iterable[str]) -> frozenset[str]:
    """Every section above one of `paths`."""
    found: set[str] = set()
    for path in paths:
        keys = path.split(".")
        found.update(".".join(keys[:end]) for end in range(1, len(keys)))
    return frozenset(found)


class ConfigError(Exception):
    """Every problem found in one configuration file, reported together."""

    def __init__(self, source: Path | str | None, problems: list[Problem]) -> None:
        self.source = strip_controls(str(source)) if source is not None else "<config>"
        self.problems = problems
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.problems)
        lines = [f"{self.source}: {count} problem{'s' if count != 1 else ''}"]
        lines += [f"  - {problem}" for problem in self.problems[:REPORT_LIMIT]]
        if count > REPORT_LIMIT:
            lines.append(f"  ... and {count - REPORT_LIMIT} more")
        return "\n".join(lines)
