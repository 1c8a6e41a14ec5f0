"""The certificates' alert policy, the server license's applied to each certificate. Pure.

For each certificate (known across checks by its endpoint and subject): one alert per level
crossed (`licmon.certificateAlerts.thresholdsDays`), for the lowest level on a jump; once
expired, one "has expired" alert, again every `repeat_expired_seconds` while it stays
expired; when its `notAfter` moves later (it was renewed), the levels start again, with one
"renewed" message if it had been alerted about. A date that moves earlier is no renewal.
Check failing / recovered are the common ones (licmon/core/alerts.py).

The history part this keeps for one site and one target: `certificates`, by slot, each
`{notAfter, levels, alerted, expiredAt}`; a slot no longer read is forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from licmon.checks.certificate.status import Certificate, CertificateStatus
from licmon.core.alerts import Message
from licmon.core.failure_notices import failure_notice, rendered
from licmon.core.notices import Notice
from licmon.core.templates import MessageTemplate

ABOUT_TO_EXPIRE = "certificate_about_to_expire"
EXPIRED = "certificate_expired"
RENEWED = "certificate_renewed"
LABEL = "certificate"

EVENTS = {
    ABOUT_TO_EXPIRE: "certificate about to expire alert",
    EXPIRED: "certificate has expired alert",
    RENEWED: "certificate renewed",
}
TEMPLATE_NAMES = {
    ABOUT_TO_EXPIRE: "certificateAboutToExpire",
    EXPIRED: "certificateExpired",
    RENEWED: "certificateRenewed",
}
_ABOUT = (
    "Certificate ${subject} of ${site} (${endpoint}) expires in ${daysLeft} days, on ${notAfter}"
)
_EXPIRED = "Certificate ${subject} of ${site} (${endpoint}) expired on ${notAfter}"
_RENEWED = (
    "Certificate ${subject} of ${site} (${endpoint}) renewed, now valid until ${notAfter}"
    " (${daysLeft} days)"
)
_TITLE = "Qlik Sense certificate: ${site} ${endpoint}"
TEMPLATES = {
    "certificateAboutToExpire": MessageTemplate(_ABOUT, _TITLE, _ABOUT + " (issuer ${issuer})"),
    "certificateExpired": MessageTemplate(_EXPIRED, _TITLE, _EXPIRED + " (issuer ${issuer})"),
    "certificateRenewed": MessageTemplate(_RENEWED, _TITLE, _RENEWED),
}
TEMPLATE_FIELDS = {
    "endpoint": "certificates: host:port of the handshake, or client:<file>",
    "subject": "certificates: the subject's common name",
    "issuer": "certificates: the issuer's common name",
    "notAfter": "certificates: when it ends, ISO 8601 UTC",
}


def fields(site: str, certificate: Certificate, level: int | None = None) -> dict[str, Any]:
    """What a template may say about this certificate."""
    return {
        "site": site,
        "endpoint": certificate.endpoint,
        "subject": certificate.subject,
        "issuer": certificate.issuer,
        "notAfter": certificate.notAfter,
        "expiryDate": certificate.notAfter[:10],
        "daysLeft": certificate.daysUntilExpiry,
        "level": level,
    }


def _fresh(certificate: Certificate) -> dict[str, Any]:
    return {"notAfter": certificate.notAfter, "levels": [], "alerted": False, "expiredAt": None}


def judge_one(
    levels: Sequence[int],
    repeat_expired_seconds: float,
    site: str,
    certificate: Certificate,
    checked_at: datetime,
    before: Mapping[str, Any] | None,
) -> tuple[list[Message], dict[str, Any]]:
    messages: list[Message] = []
    kept = dict(before) if before is not None else _fresh(certificate)
    if before is not None and certificate.notAfter > str(before.get("notAfter") or ""):
        if before.get("alerted"):
            messages.append(Message(RENEWED, fields(site, certificate)))
        kept = _fresh(certificate)
    kept["notAfter"] = certificate.notAfter  # an earlier date keeps its crossed levels
    if certificate.expired:
        last = kept.get("expiredAt")
        if (
            last is None
            or (checked_at - datetime.fromisoformat(last)).total_seconds() >= repeat_expired_seconds
        ):
            messages.append(Message(EXPIRED, fields(site, certificate)))
            kept["expiredAt"] = checked_at.isoformat()
            kept["alerted"] = True
        kept["levels"] = sorted(set(levels), reverse=True)
        return messages, kept
    reached = {level for level in levels if certificate.daysUntilExpiry <= level}
    sent = set(kept.get("levels") or ())
    if reached - sent:
        messages.append(Message(ABOUT_TO_EXPIRE, fields(site, certificate, min(reached))))
        kept["alerted"] = True
    kept["levels"] = sorted(sent | reached, reverse=True)
    return messages, kept


def judge(
    levels: Sequence[int],
    repeat_expired_seconds: float,
    status: CertificateStatus,
    part: Mapping[str, Any],
) -> tuple[list[Message], dict[str, Any]]:
    """The alerts of one successful check for one target, and the target's new part."""
    checked_at = datetime.fromisoformat(status.checkedAt.replace("Z", "+00:00"))
    known = part.get("certificates") or {}
    messages: list[Message] = []
    now: dict[str, Any] = {}
    for certificate in sorted(status.certificates, key=lambda c: (c.notAfter, c.slot)):
        said, now[certificate.slot] = judge_one(
            levels,
            repeat_expired_seconds,
            status.site,
            certificate,
            checked_at,
            known.get(certificate.slot),
        )
        messages += said
    return messages, {"certificates": now}


def notice(message: Message, chosen: Mapping[str, MessageTemplate], check_id: str) -> Notice:
    """One of the certificate kind's messages as a notice (check failing/recovered too)."""
    common = failure_notice(LABEL, message, chosen, check_id)
    if common is not None:
        return common
    if message.what not in EVENTS:
        raise ValueError(f"not a certificate message: {message.what!r}")
    values = dict(message.fields) | {"license": LABEL, "checkId": check_id}
    event = EVENTS[message.what]
    params = {
        "event": event,
        "site": values.get("site"),
        "endpoint": values.get("endpoint"),
        "subject": values.get("subject"),
        "issuer": values.get("issuer"),
        "notAfter": values.get("notAfter"),
        "daysUntilExpiry": values.get("daysLeft"),
        "level": values.get("level"),
    }
    return rendered(chosen[TEMPLATE_NAMES[message.what]], values, event, params)
