"""The simulated ``GET /qrs/license`` answer: a realistic QRS License entity.

A site is licensed either by a signed key (expiry in the ``keyDetails`` text, in the date
format of the server's .NET culture) or by serial + LEF (expiry in the VALIDTO column of
the ``lef`` text). The knobs here produce every shape the parser must cope with: each date
format, several ``Valid To`` entries on one line or across lines, no date at all
(perpetual) and the server's own ``isExpired`` verdict.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


def _clock12(value: dt.datetime) -> str:
    """.NET ``h:mm:ss tt``: 12-hour clock, hour not padded."""
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d}:{value.second:02d} {'AM' if value.hour < 12 else 'PM'}"


def _ymd(value: dt.datetime) -> str:
    # Formatted by hand: strftime("%Y") does not pad years below 1000 (Valid From is year 1).
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _qlik(value: dt.datetime) -> str:
    return f"{_ymd(value)} {_clock12(value)}"


def _us(value: dt.datetime) -> str:
    return f"{value.month}/{value.day}/{value.year:04d} {_clock12(value)}"


def _de(value: dt.datetime) -> str:
    return (
        f"{value.day:02d}.{value.month:02d}.{value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )


def _iso(value: dt.datetime) -> str:
    return f"{_ymd(value)}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"


DATE_FORMATS: dict[str, Callable[[dt.datetime], str]] = {
    "qlik": _qlik,  # 2024-03-16 12:00:00 AM (Qlik's documentation)
    "us": _us,  # 3/16/2024 12:00:00 AM (en-US culture)
    "de": _de,  # 16.03.2024 00:00:00 (de-DE culture)
    "iso": _iso,  # 2024-03-16T00:00:00Z
    "date": _ymd,  # 2024-03-16
}

# .NET DateTime.MinValue, what Qlik prints as "Valid From" of a key without a start.
_DOTNET_MIN = dt.datetime(1, 1, 1)

DateLike = dt.date | dt.datetime

KeyDetailsLayout = Literal["single_line", "multi_line"]


def _as_datetime(value: DateLike) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    return dt.datetime(value.year, value.month, value.day)


def _default_valid_to() -> tuple[DateLike, ...]:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30),)


@dataclass
class SimulatedLicense:
    """What the simulated site is licensed with; ``to_json()`` is the QRS answer.

    ``valid_to``: the ``Valid To`` dates in text order (empty: perpetual, nothing says when
    the license ends). ``lef_only``: serial + LEF license; the dates go to the LEF VALIDTO
    column instead of ``keyDetails``. ``key_details_layout``: ``single_line`` puts License
    Number, Valid From, every Valid To and the allotments on one line (the shape in Qlik's
    documentation); ``multi_line`` puts each on its own line.
    """

    valid_to: Sequence[DateLike] = field(default_factory=_default_valid_to)
    date_format: str = "qlik"
    # Valid To (or VALIDTO) texts written as given instead of `valid_to`'s: partial or broken
    # dates such as "16 March" or "2027", which the client must refuse to complete.
    valid_to_texts: Sequence[str] = ()
    is_expired: bool = False
    expired_reason: str = ""
    lef_only: bool = False
    lef_date_format: str = "date"
    key_details_layout: KeyDetailsLayout = "single_line"
    serial: str = "9999000000001234"
    name: str = "Simulated Qlik Sense Site"
    organization: str = "Example Corp"
    product: int = 2  # Qlik Sense Enterprise
    number_of_cores: int = 0
    is_subscription: bool = False
    is_blacklisted: bool = False
    is_invalid: bool = False
    license_id: str = "4a1b9f0e-6c55-4d0e-9a5b-2f4f6f1f0c3d"

    def __post_init__(self) -> None:
        for fmt in (self.date_format, self.lef_date_format):
            if fmt not in DATE_FORMATS:
                raise ValueError(f"unknown date format {fmt!r}; known: {', '.join(DATE_FORMATS)}")
        # Accept a single date for convenience; keep the order the text will show.
        if isinstance(self.valid_to, dt.date):
            self.valid_to = (self.valid_to,)
        self.valid_to = tuple(self.valid_to)
        self.valid_to_texts = tuple(self.valid_to_texts)

    @classmethod
    def perpetual(cls, **kwargs: Any) -> SimulatedLicense:
        return cls(valid_to=(), **kwargs)

    @classmethod
    def expired(cls, days_ago: int = 10, **kwargs: Any) -> SimulatedLicense:
        end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days_ago)
        kwargs.setdefault("expired_reason", "The license has expired.")
        return cls(valid_to=(end,), is_expired=True, **kwargs)

    def formatted_valid_to(self) -> list[str]:
        """The Valid To dates as the server prints them (tests compare against these)."""
        if self.valid_to_texts:
            return list(self.valid_to_texts)
        fmt = DATE_FORMATS[self.date_format]
        return [fmt(_as_datetime(d)) for d in self.valid_to]

    def key_details(self) -> str:
        if self.lef_only:
            return ""
        fmt = DATE_FORMATS[self.date_format]
        number = " ".join(self.serial[i : i + 4] for i in range(0, len(self.serial), 4))
        parts = [f"License Number: {number}", f"Valid From: {fmt(_DOTNET_MIN)}"]
        parts += [f"Valid To: {text}" for text in self.formatted_valid_to()]
        parts.append("Allotment professional:100; Allotment analyzer:100; Allotment tokens:0")
        header = f"isBlackListed: {self.is_blacklisted}"
        separator = " " if self.key_details_layout == "single_line" else "\n"
        return header + "\n" + separator.join(parts)

    def lef(self) -> str:
        """LEF text, ``ATTRIBUTE;VALUE;VALIDFROM;VALIDTO`` lines; one date per attribute line."""
        if not self.lef_only:
            return ""
        fmt = DATE_FORMATS[self.lef_date_format]
        ends = list(self.valid_to_texts) or [fmt(_as_datetime(d)) for d in self.valid_to]
        attributes = [("PRODUCTLEVEL", "50"), ("PROFESSIONAL", "100"), ("ANALYZER", "100")]
        # More dates than attribute lines: extra per-feature lines carry the rest.
        attributes += [(f"FEATURE{i}", "1") for i in range(len(ends) - len(attributes))]
        lines = ["Qlik Sense Enterprise;;;", f"SERIAL;{self.serial};;"]
        for index, (attribute, value) in enumerate(attributes):
            end = ends[index] if index < len(ends) else ""
            lines.append(f"{attribute};{value};;{end}")
        lines += ["TOKENS;0;;", f"CONTROL;{self._control()};;"]
        return "\r\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        modified = "2024-01-15T09:30:12.345Z"
        return {
            "id": self.license_id,
            "createdDate": "2023-11-02T14:05:33.120Z",
            "modifiedDate": modified,
            "modifiedByUserName": "INTERNAL\\sa_repository",
            "lef": self.lef(),
            "serial": self.serial,
            "check": self._control() if self.lef_only else "",
            "key": "" if self.lef_only else self._signed_key(),
            "keyDetails": self.key_details(),
            "name": self.name,
            "organization": self.organization,
            "product": self.product,
            "numberOfCores": self.number_of_cores,
            "isExpired": self.is_expired,
            "expiredReason": self.expired_reason,
            "isBlacklisted": self.is_blacklisted,
            "isInvalid": self.is_invalid,
            "isSubscription": self.is_subscription,
            "isCloudServices": False,
            "isElastic": False,
            "isDynamicCapacity": False,
            "updated": False,
            "privileges": None,
            "schemaPath": "License",
        }

    def _control(self) -> str:
        return str(int(hashlib.sha256(self.serial.encode()).hexdigest(), 16) % 100000).zfill(5)

    def _signed_key(self) -> str:
        """A JWT-shaped blob like Qlik's signed key; nothing verifies the signature."""

        def part(data: dict[str, Any]) -> str:
            raw = json.dumps(data, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        claims = {"licenseNumber": self.serial, "organization": self.organization}
        digest = uuid.uuid5(uuid.NAMESPACE_OID, self.serial).bytes
        signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{signature}"
