"""A site's access licenses: `GET /qrs/license/accesstypeoverview` read into one status.

`evaluate_access` is pure: the QRS answer and the check's instant in, the status out. The
status keeps, per enabled access type, Butler's `license_type` and Butler's field names
(`licenses["professional"]["available"]`), so InfluxDB, MQTT, the CLI and the alerts read
the same numbers. A malformed answer is a status with `error` naming the field at fault,
never an exception; an unknown extra field is ignored (Qlik marks the endpoint
experimental and may add some).
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from licmon.core.text import printable

# Butler's license types, in the order points and tables list them.
PROFESSIONAL = "professional"
ANALYZER = "analyzer"
ANALYZER_CAPACITY = "analyzer_capacity"
TOKEN_LOGIN = "token_login"
TOKEN_USER = "token_user"
TOKENS_AVAILABLE = "tokens_available"
LICENSE_TYPES = (
    PROFESSIONAL,
    ANALYZER,
    ANALYZER_CAPACITY,
    TOKEN_LOGIN,
    TOKEN_USER,
    TOKENS_AVAILABLE,
)
# The types that have a number of seats (or tokens) left, which can run low.
COUNTED_TYPES = (PROFESSIONAL, ANALYZER, TOKENS_AVAILABLE)

# Each type's QRS object and its fields: (QRS name, Butler name, required when enabled).
# `excess` is not on Qlik's page (Butler reads it): optional, left out when absent.
_SEATS = (
    ("allocated", "allocated", True),
    ("available", "available", True),
    ("excess", "excess", False),
    ("quarantined", "quarantined", True),
    ("total", "total", True),
    ("used", "used", True),
)
_OBJECTS: tuple[tuple[str, str, tuple[tuple[str, str, bool], ...]], ...] = (
    ("professionalAccess", PROFESSIONAL, _SEATS),
    ("analyzerAccess", ANALYZER, _SEATS),
    (
        "analyzerTimeAccess",
        ANALYZER_CAPACITY,
        (
            ("allocatedMinutes", "allocated_minutes", True),
            ("unavailableMinutes", "unavailable_minutes", True),
            ("usedMinutes", "used_minutes", True),
        ),
    ),
    (
        "loginAccess",
        TOKEN_LOGIN,
        (
            ("allocatedTokens", "allocated_tokens", True),
            ("tokenCost", "token_cost", True),
            ("unavailableTokens", "unavailable_tokens", True),
            ("usedTokens", "used_tokens", True),
        ),
    ),
    (
        "userAccess",
        TOKEN_USER,
        (
            ("allocatedTokens", "allocated_tokens", True),
            ("quarantinedTokens", "quarantined_tokens", True),
            ("tokenCost", "token_cost", True),
            # Qlik's `usedTokens`; Butler reads `userTokens`, which never exists.
            ("usedTokens", "used_tokens", True),
        ),
    ),
)
_TOKENS = (("availableTokens", "available_tokens"), ("totalTokens", "total_tokens"))

Number = int | float
# The documented range of every count in an access answer (docs/access-licenses.md).
MAX_COUNT = 10**12


@dataclass(frozen=True)
class AccessStatus:
    """One check of a site's access licenses. `licenses` holds the enabled types only."""

    site: str
    checkedAt: str  # ISO 8601 UTC instant of the check
    licenses: Mapping[str, Mapping[str, Number]] = field(default_factory=dict)
    error: str | None = None

    def available(self, license_type: str) -> tuple[Number, Number] | None:
        """(available, total) of a counted type, None when it is not enabled."""
        values = self.licenses.get(license_type)
        if values is None or license_type not in COUNTED_TYPES:
            return None
        if license_type == TOKENS_AVAILABLE:
            return values["available_tokens"], values["total_tokens"]
        return values["available"], values["total"]

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "checkedAt": self.checkedAt,
            "licenses": {name: dict(values) for name, values in self.licenses.items()},
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccessStatus:
        licenses = data.get("licenses") or {}
        return cls(
            site=str(data["site"]),
            checkedAt=str(data["checkedAt"]),
            licenses={name: dict(licenses[name]) for name in LICENSE_TYPES if name in licenses},
            error=data.get("error"),
        )


class BadAccessAnswer(ValueError):
    """The QRS answered, but not with an access overview we can read; names the field."""


# Values quoted in an error: short and shallow, as in licmon.core.server_license.
_QUOTE = reprlib.Repr()
_QUOTE.maxlevel, _QUOTE.maxstring, _QUOTE.maxother = 2, 40, 40
_QUOTE.maxlist = _QUOTE.maxdict = 4


def _quoted(value: object) -> str:
    return printable(_QUOTE.repr(value), 80)


def _switch(answer: Mapping[str, Any], name: str, where: str) -> bool:
    if name not in answer:
        raise BadAccessAnswer(f"QRS access field {where + name!r} is missing")
    value = answer[name]
    if not isinstance(value, bool):
        raise BadAccessAnswer(
            f"QRS access field {where + name!r} should be true/false, got {_quoted(value)}"
        )
    return value


def _number(answer: Mapping[str, Any], name: str, where: str, required: bool) -> Number | None:
    value = answer.get(name)
    if value is None:
        if required:
            raise BadAccessAnswer(f"QRS access field {where + name!r} is missing")
        return None
    # bool is an int in Python, never a count in JSON.
    finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    if isinstance(value, bool) or not finite:
        raise BadAccessAnswer(
            f"QRS access field {where + name!r} should be a number, got {_quoted(value)}"
        )
    # An integer beyond 1.8e308 makes float arithmetic (isfinite, the forecast, InfluxDB)
    # raise OverflowError; no count of seats, tokens or minutes comes near the bound.
    if abs(value) > MAX_COUNT:
        raise BadAccessAnswer(
            f"QRS access field {where + name!r} should be a number between {-MAX_COUNT:.0e} "
            f"and {MAX_COUNT:.0e}, got {_quoted(value)}"
        )
    return value


def read_answer(answer: Mapping[str, Any]) -> dict[str, dict[str, Number]]:
    """The enabled types with Butler's field names. Raises BadAccessAnswer.

    A disabled type's numbers are not needed, so they may be absent; present, they must
    still be numbers (a wrong type is a wrong answer, whatever the switch says).
    """
    licenses: dict[str, dict[str, Number]] = {}
    for qrs_name, license_type, fields in _OBJECTS:
        section = answer.get(qrs_name)
        if section is None:
            raise BadAccessAnswer(f"QRS access field {qrs_name!r} is missing")
        if not isinstance(section, Mapping):
            raise BadAccessAnswer(
                f"QRS access field {qrs_name!r} should be an object, got {_quoted(section)}"
            )
        where = f"{qrs_name}."
        enabled = _switch(section, "enabled", where)
        values = {
            butler: _number(section, qrs, where, required and enabled)
            for qrs, butler, required in fields
        }
        if enabled:
            licenses[license_type] = {k: v for k, v in values.items() if v is not None}
    tokens_enabled = _switch(answer, "tokensEnabled", "")
    tokens = {butler: _number(answer, qrs, "", tokens_enabled) for qrs, butler in _TOKENS}
    if tokens_enabled:
        licenses[TOKENS_AVAILABLE] = {k: v for k, v in tokens.items() if v is not None}
    # In Butler's order whatever the answer's.
    return {name: licenses[name] for name in LICENSE_TYPES if name in licenses}


def evaluate_access(site: str, answer: Any, checked_at: datetime) -> AccessStatus:
    """Judge one `/qrs/license/accesstypeoverview` answer at `checked_at`."""
    if not isinstance(answer, Mapping):
        return failed_access(site, checked_at, "QRS access answer is not an object")
    try:
        licenses = read_answer(answer)
    except BadAccessAnswer as exc:
        return failed_access(site, checked_at, str(exc))
    return AccessStatus(site=site, checkedAt=iso(checked_at), licenses=licenses)


def failed_access(site: str, checked_at: datetime, reason: str) -> AccessStatus:
    """The status of a check that could not read the access licenses."""
    return AccessStatus(site=site, checkedAt=iso(checked_at), error=reason)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- how low is low ---------------------------------------------------------------------


@dataclass(frozen=True)
class Minimum:
    """`licmon.accessAlerts.<type>`: low at or below either bound; forecast alert under
    `forecast_days`. All optional."""

    min_available: Number | None = None
    min_available_percent: Number | None = None
    forecast_days: Number | None = None

    def floor(self, total: Number) -> Number | None:
        """The highest `available` that is low, None when no bound is set."""
        bounds = []
        if self.min_available is not None:
            bounds.append(self.min_available)
        if self.min_available_percent is not None:
            bounds.append(total * self.min_available_percent / 100)
        return max(bounds) if bounds else None


def is_low(status: AccessStatus, license_type: str, minimum: Minimum) -> bool:
    counts = status.available(license_type)
    if counts is None:
        return False
    available, total = counts
    floor = minimum.floor(total)
    return floor is not None and available <= floor


def low_types(status: AccessStatus, minimums: Mapping[str, Minimum]) -> list[str]:
    """The counted types at or below their minimum, in Butler's order."""
    return [
        name for name in COUNTED_TYPES if name in minimums and is_low(status, name, minimums[name])
    ]
