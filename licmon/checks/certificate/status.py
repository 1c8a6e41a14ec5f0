"""A site's certificates, judged: days left of each, and the site's status (its earliest
certificate's). Pure: no clock, no network, no config.

Days left are whole UTC calendar days from the check to `notAfter`, as for licenses (0 on
the last day), and negative once past: a certificate is expired from the instant of
`notAfter`.
The site's status: `expired` when any certificate has expired, `warning` when the earliest
is at or below the highest level, `ok` otherwise, `unknown` when the check failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from licmon.checks.certificate.reading import CertificateInfo

OK, WARNING, EXPIRED, UNKNOWN = "ok", "warning", "expired", "unknown"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def days_until(not_after: datetime, moment: datetime) -> int:
    """UTC calendar days from `moment` to `notAfter`; once past, at most -1 (a certificate
    that ended this morning has no day left)."""
    days = (not_after.astimezone(UTC).date() - moment.astimezone(UTC).date()).days
    return min(days, -1) if not_after <= moment else days


@dataclass(frozen=True)
class Certificate:
    """One certificate as one check saw it."""

    # `host:port` of the handshake, or `client:<path as configured>` for the client file.
    endpoint: str
    subject: str
    issuer: str
    notAfter: str  # ISO 8601 date-time, UTC ("...Z")
    daysUntilExpiry: int
    expired: bool
    serial: str
    fingerprint: str

    @property
    def slot(self) -> str:
        """Which certificate this is across checks: a renewal keeps its endpoint and name."""
        return f"{self.endpoint}|{self.subject}"

    def not_after(self) -> datetime:
        return datetime.fromisoformat(self.notAfter.replace("Z", "+00:00"))

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "subject": self.subject,
            "issuer": self.issuer,
            "notAfter": self.notAfter,
            "daysUntilExpiry": self.daysUntilExpiry,
            "expired": self.expired,
            "serial": self.serial,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Certificate:
        return cls(
            endpoint=str(data["endpoint"]),
            subject=str(data["subject"]),
            issuer=str(data["issuer"]),
            notAfter=str(data["notAfter"]),
            daysUntilExpiry=int(data["daysUntilExpiry"]),
            expired=bool(data["expired"]),
            serial=str(data.get("serial") or ""),
            fingerprint=str(data.get("fingerprint") or ""),
        )


@dataclass(frozen=True)
class CertificateStatus:
    site: str
    checkedAt: str
    status: str
    # The earliest certificate's days left (None: none read).
    daysUntilExpiry: int | None
    certificates: tuple[Certificate, ...]
    # The highest level of the policy: at or below it, the site is `warning`.
    highestLevel: int
    error: str | None = None

    def earliest(self) -> Certificate | None:
        return min(self.certificates, key=lambda c: (c.notAfter, c.endpoint), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "checkedAt": self.checkedAt,
            "status": self.status,
            "daysUntilExpiry": self.daysUntilExpiry,
            "certificates": [certificate.to_json() for certificate in self.certificates],
            "highestLevel": self.highestLevel,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CertificateStatus:
        days = data.get("daysUntilExpiry")
        return cls(
            site=str(data["site"]),
            checkedAt=str(data["checkedAt"]),
            status=str(data["status"]),
            daysUntilExpiry=None if days is None else int(days),
            certificates=tuple(Certificate.from_json(c) for c in data.get("certificates") or ()),
            highestLevel=int(data.get("highestLevel") or 0),
            error=None if data.get("error") is None else str(data["error"]),
        )


def judged(endpoint: str, info: CertificateInfo, checked_at: datetime) -> Certificate:
    return Certificate(
        endpoint=endpoint,
        subject=info.subject,
        issuer=info.issuer,
        notAfter=iso(info.not_after),
        daysUntilExpiry=days_until(info.not_after, checked_at),
        expired=info.not_after <= checked_at,
        serial=info.serial,
        fingerprint=info.fingerprint,
    )


def evaluate(
    site: str,
    read: Sequence[tuple[str, Sequence[CertificateInfo]]],
    checked_at: datetime,
    levels: Sequence[int],
) -> CertificateStatus:
    """Every certificate read, by endpoint, judged at `checked_at` against `levels`."""
    certificates = tuple(
        judged(endpoint, info, checked_at) for endpoint, infos in read for info in infos
    )
    highest = max(levels, default=0)
    days = min((c.daysUntilExpiry for c in certificates), default=None)
    if any(c.expired for c in certificates):
        level = EXPIRED
    elif days is not None and days <= highest:
        level = WARNING
    else:
        level = OK
    if not certificates:
        return failed(site, checked_at, highest, "no certificate was read")
    return CertificateStatus(site, iso(checked_at), level, days, certificates, highest)


def failed(site: str, checked_at: datetime, highest: int, reason: str) -> CertificateStatus:
    return CertificateStatus(site, iso(checked_at), UNKNOWN, None, (), highest, reason)
