"""A Qlik Cloud tenant's license, judged: its end, its status, its allotments. Pure.

- The end is the end of `valid` (an ISO 8601 interval `<start>/<end>`); an open or missing
  end means no end date, which never alerts. Days left are whole UTC calendar days to it
  (0 on the last day), and at most -1 once it has passed.
- Only `status: "Ok"` grants access: any other (`Expired`, `Blacklisted`, ...) makes the
  tenant `expired` whatever the date says.
- An allotment's `available` is `units - unitsUsed`; it is low at or below its minimum
  (`licmon.cloudAlerts.allotments.<name>`).
- The tenant's status: `expired` (past its end, or not `Ok`), `warning` (at or below the
  highest level, or an allotment low), `ok`, or `unknown` when it could not be read (or the
  answer is no license: then `error` says why).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from licmon.core.text import printable

OK, WARNING, EXPIRED, UNKNOWN = "ok", "warning", "expired", "unknown"
ALLOTMENTS = ("professional", "analyzer", "analyzer_time")
# Beyond any real count: a number past it is no count.
_MOST = 1e12


@dataclass(frozen=True)
class Minimum:
    available: float | None = None
    percent: float | None = None

    def low(self, allotment: Allotment) -> bool:
        if self.available is not None and allotment.available <= self.available:
            return True
        return (
            self.percent is not None
            and allotment.units > 0
            and allotment.available * 100 / allotment.units <= self.percent
        )


@dataclass(frozen=True)
class Allotment:
    name: str
    units: float
    unitsUsed: float
    # -1: unbounded; None: not given.
    overage: float | None = None

    @property
    def available(self) -> float:
        return self.units - self.unitsUsed

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "units": self.units,
            "unitsUsed": self.unitsUsed,
            "available": self.available,
            "overage": self.overage,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Allotment:
        overage = data.get("overage")
        return cls(
            str(data["name"]),
            float(data["units"]),
            float(data["unitsUsed"]),
            None if overage is None else float(overage),
        )


@dataclass(frozen=True)
class CloudStatus:
    tenant: str
    checkedAt: str
    status: str
    daysUntilExpiry: int | None = None
    # The end of the subscription, `YYYY-MM-DD` (UTC) and the instant it ends.
    expiryDate: str | None = None
    expiresAt: str | None = None
    licenseStatus: str | None = None
    licenseNumber: str | None = None
    trial: bool = False
    product: str | None = None
    allotments: tuple[Allotment, ...] = ()
    # The allotments at or below their minimum.
    low: tuple[str, ...] = ()
    highestLevel: int = 0
    error: str | None = None

    @property
    def site(self) -> str:
        """The pipeline knows every checked thing as a site; a tenant is one."""
        return self.tenant

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "checkedAt": self.checkedAt,
            "status": self.status,
            "daysUntilExpiry": self.daysUntilExpiry,
            "expiryDate": self.expiryDate,
            "expiresAt": self.expiresAt,
            "licenseStatus": self.licenseStatus,
            "licenseNumber": self.licenseNumber,
            "trial": self.trial,
            "product": self.product,
            "allotments": [allotment.to_json() for allotment in self.allotments],
            "low": list(self.low),
            "highestLevel": self.highestLevel,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CloudStatus:
        days = data.get("daysUntilExpiry")
        return cls(
            tenant=str(data["tenant"]),
            checkedAt=str(data["checkedAt"]),
            status=str(data["status"]),
            daysUntilExpiry=None if days is None else int(days),
            expiryDate=data.get("expiryDate"),
            expiresAt=data.get("expiresAt"),
            licenseStatus=data.get("licenseStatus"),
            licenseNumber=data.get("licenseNumber"),
            trial=bool(data.get("trial")),
            product=data.get("product"),
            allotments=tuple(Allotment.from_json(a) for a in data.get("allotments") or ()),
            low=tuple(data.get("low") or ()),
            highestLevel=int(data.get("highestLevel") or 0),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class Policy:
    levels: tuple[int, ...] = (60, 30, 14, 7, 1)
    minimums: Mapping[str, Minimum] = field(default_factory=dict)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def days_until(end: datetime, moment: datetime) -> int:
    """UTC calendar days from `moment` to `end`; once past, at most -1."""
    days = (end.astimezone(UTC).date() - moment.astimezone(UTC).date()).days
    return min(days, -1) if end <= moment else days


class NotALicense(ValueError):
    """The answer is JSON but no license overview (a field missing or of the wrong type)."""


def end_of(valid: Any) -> datetime | None:
    """The end of an ISO 8601 interval `<start>/<end>`; None for an open or missing end."""
    if valid is None:
        return None
    if not isinstance(valid, str) or len(valid) > 100:
        raise NotALicense("`valid` is not an ISO 8601 interval")
    _, slash, end = valid.partition("/")
    if not slash:
        raise NotALicense(f"`valid` is not an ISO 8601 interval: {valid!r}")
    if not end.strip():
        return None
    try:
        moment = datetime.fromisoformat(end.strip().replace("Z", "+00:00"))
    except ValueError:
        raise NotALicense(f"the end of `valid` is no date-time: {end!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not -_MOST < value < _MOST:
        raise NotALicense(f"{what} is not a number")
    return float(value)


def _allotments(raw: Any) -> tuple[Allotment, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > 100:
        raise NotALicense("`allotments` is not a list")
    found = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise NotALicense("an allotment has no name")
        name = printable(entry["name"], 40)
        overage = entry.get("overage")
        found.append(
            Allotment(
                name,
                _number(entry.get("units"), f"allotment {name!r} units"),
                _number(entry.get("unitsUsed"), f"allotment {name!r} unitsUsed"),
                None if overage is None else _number(overage, f"allotment {name!r} overage"),
            )
        )
    return tuple(found)


def evaluate(
    tenant: str, answer: Mapping[str, Any], checked_at: datetime, policy: Policy
) -> CloudStatus:
    """The license overview read at `checked_at`, judged by `policy`."""
    highest = max(policy.levels, default=0)
    try:
        status = answer.get("status")
        if not isinstance(status, str) or not status:
            raise NotALicense("the answer has no license `status`")
        end = end_of(answer.get("valid"))
        allotments = _allotments(answer.get("allotments"))
    except NotALicense as exc:
        return failed(tenant, checked_at, highest, f"not a license overview: {exc}")
    days = None if end is None else days_until(end, checked_at)
    low = tuple(
        a.name for a in allotments if a.name in policy.minimums and policy.minimums[a.name].low(a)
    )
    if status != "Ok" or (end is not None and end <= checked_at):
        level = EXPIRED
    elif (days is not None and days <= highest) or low:
        level = WARNING
    else:
        level = OK
    number = answer.get("licenseNumber")
    product = answer.get("product")
    return CloudStatus(
        tenant=tenant,
        checkedAt=iso(checked_at),
        status=level,
        daysUntilExpiry=days,
        expiryDate=None if end is None else end.astimezone(UTC).date().isoformat(),
        expiresAt=None if end is None else iso(end),
        licenseStatus=printable(status, 40),
        licenseNumber=printable(str(number), 40) if isinstance(number, str | int) else None,
        trial=answer.get("trial") is True,
        product=printable(product, 100) if isinstance(product, str) else None,
        allotments=allotments,
        low=low,
        highestLevel=highest,
    )


def failed(tenant: str, checked_at: datetime, highest: int, reason: str) -> CloudStatus:
    return CloudStatus(tenant, iso(checked_at), UNKNOWN, highestLevel=highest, error=reason)


def allotments_by_name(allotments: Sequence[Allotment]) -> dict[str, Allotment]:
    return {allotment.name: allotment for allotment in allotments}
