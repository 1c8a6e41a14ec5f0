"""The certificates' edges: `licmon check --kind certificate` and `licmon status --kind
certificate` (one row per certificate, JSON, exit code), the exporter's metric families and
the digest's lines.

Exit codes as the server license's: 0 ok, 1 a certificate at or below the highest level,
2 one has expired, 3 a check failed (or, for status, a site never read or stale).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from licmon.checks.certificate.status import CertificateStatus, days_until
from licmon.core.digest import DigestRow
from licmon.plugin_output import Finding, Perf, summary
from licmon.views import (
    EXIT_CRITICAL,
    EXIT_UNKNOWN,
    NO_LIMITS,
    Limits,
    Report,
    age_text,
    aligned,
    check_state,
    days_code,
    days_perf,
    error_text,
    fleet_overview,
    is_stale,
    overview_lines,
    worst,
)

if TYPE_CHECKING:
    import redis
    from prometheus_client.core import Metric

    from licmon.config.model import MonitorConfig, Site
    from licmon.state.fleet import SiteState

_HEADER = ("SITE", "ENDPOINT", "SUBJECT", "ISSUER", "NOT AFTER", "DAYS LEFT", "STATUS")


_SHOWN = {0: "OK", 1: "WARNING", 3: "UNKNOWN"}


def _verdict(expired: bool, code: int) -> str:
    """A STATUS cell: EXPIRED for an ended certificate, CRITICAL for one -c made so."""
    if code == EXIT_CRITICAL:
        return "EXPIRED" if expired else "CRITICAL"
    return _SHOWN[code]


def _rows(status: CertificateStatus, limits: Limits) -> list[tuple[str, ...]]:
    if status.error is not None:
        return [(status.site, "-", "-", "-", "-", "-", f"UNKNOWN: {status.error}")]
    highest = status.highestLevel
    return [
        (
            status.site,
            c.endpoint,
            c.subject,
            c.issuer,
            c.notAfter,
            str(c.daysUntilExpiry),
            _verdict(c.expired, days_code(c.daysUntilExpiry, highest, limits, expired=c.expired)),
        )
        for c in sorted(status.certificates, key=lambda c: (c.notAfter, c.endpoint))
    ]


def site_code(level: str, days: int | None, highest: int, expired: bool, limits: Limits) -> int:
    """A site's exit code from its earliest certificate's days (an expired one: 2); a
    failed check, a site never read or stale: 3."""
    if level not in ("ok", "warning", "expired"):
        return EXIT_UNKNOWN
    return days_code(days, highest, limits, expired=expired or level == "expired")


def finding(site: str, code: int, level: str, days: int | None, error: str | None) -> Finding:
    if code == EXIT_UNKNOWN:
        text = f"{site} {level}" + (f": {error[:60]}" if error else "")
    elif days is None:
        text = f"{site} no certificate read"
    elif days < 0:
        text = f"{site} certificate expired {-days} days ago"
    else:
        text = f"{site} certificate {days} days left"
    return Finding(code, text, float("inf") if days is None else days)


def perf(site: str, code: int, days: int | None, highest: int, limits: Limits) -> list[Perf]:
    """The site's earliest certificate's days left (`U` when it could not be read)."""
    if days is None and code != EXIT_UNKNOWN:
        return []
    return [days_perf(site, days, highest, limits)]


def check_report(statuses: list[CertificateStatus], limits: Limits = NO_LIMITS) -> Report:
    rows = [row for status in statuses for row in _rows(status, limits)]
    codes = [
        site_code(
            s.status,
            s.daysUntilExpiry,
            s.highestLevel,
            any(c.expired for c in s.certificates),
            limits,
        )
        for s in statuses
    ]
    return Report(
        document=[status.to_json() for status in statuses],
        table="\n".join(aligned([_HEADER, *rows])),
        exit_code=worst(codes),
        summary=summary(
            [
                finding(s.site, code, s.status, s.daysUntilExpiry, s.error)
                for s, code in zip(statuses, codes, strict=True)
            ]
        ),
        perfdata=tuple(
            entry
            for s, code in zip(statuses, codes, strict=True)
            for entry in perf(s.site, code, s.daysUntilExpiry, s.highestLevel, limits)
        ),
    )


def status_report(
    client: redis.Redis,
    config: MonitorConfig,
    kind: str,
    sites: list[Site],
    now: datetime,
    highest: int = 0,
    limits: Limits = NO_LIMITS,
) -> Report:
    """Each site's certificates as its last successful check read them, days recounted."""
    from licmon.state.fleet import FleetState

    overview = fleet_overview(client, config)
    states = FleetState(client).read(kind, [site.name for site in sites])
    views, rows = [], []
    for site in sites:
        state = states[site.name]
        read = last_read(state)
        if state is None or state.last_checked is None:
            level = "never"
        elif is_stale(site.schedule(kind) or "", state, now):
            level = "stale"
        else:
            level = str((state.status or {}).get("status") or "unknown")
        certificates = [] if read is None else recounted(read, now)
        days = min((c["daysUntilExpiry"] for c in certificates), default=None)
        views.append(
            {
                "site": site.name,
                "zone": site.zone,
                "status": level,
                "daysUntilExpiry": days,
                "certificates": certificates,
                **check_state(state),
            }
        )
        rows += [
            (
                site.name,
                c["endpoint"],
                c["subject"],
                c["notAfter"],
                str(c["daysUntilExpiry"]),
                age_text(views[-1]["lastSuccess"], now),
            )
            for c in certificates
        ]
    header = ("SITE", "ENDPOINT", "SUBJECT", "NOT AFTER", "DAYS LEFT", "READ")
    sites_header = ("SITE", "ZONE", "STATUS", "DAYS LEFT", "CHECKED", "FAILS", "ERROR")
    site_rows = [
        (
            view["site"],
            view["zone"] or "-",
            view["status"].upper(),
            "-" if view["daysUntilExpiry"] is None else str(view["daysUntilExpiry"]),
            age_text(view["lastChecked"], now),
            str(view["consecutiveFailures"]),
            error_text(view),
        )
        for view in views
    ]
    document = {"sites": views, "beat": overview["beat"], "queues": overview["queues"]}
    parts = ["\n".join(aligned([header, *rows]))] if rows else []
    parts.append("\n".join(aligned([sites_header, *site_rows]) + overview_lines(document)))
    # Days recounted now, so the level is judged again here, not read from the last check.
    codes = [
        site_code(
            view["status"],
            view["daysUntilExpiry"],
            highest,
            any(c["expired"] for c in view["certificates"]),
            limits,
        )
        for view in views
    ]
    return Report(
        document=document,
        table="\n\n".join(parts),
        exit_code=worst(codes),
        summary=summary(
            [
                finding(
                    view["site"],
                    code,
                    view["status"],
                    view["daysUntilExpiry"],
                    (view["lastError"] or {}).get("reason"),
                )
                for view, code in zip(views, codes, strict=True)
            ]
        ),
        perfdata=tuple(
            entry
            for view, code in zip(views, codes, strict=True)
            for entry in perf(view["site"], code, view["daysUntilExpiry"], highest, limits)
        ),
    )


def last_read(state: SiteState | None) -> CertificateStatus | None:
    """The site's last successful read (None: never, or unreadable)."""
    status = None if state is None else state.success_status
    if not status or status.get("error") or not status.get("certificates"):
        return None
    try:
        return CertificateStatus.from_json(status)
    except (KeyError, TypeError, ValueError):
        return None


def recounted(status: CertificateStatus, now: datetime) -> list[dict[str, Any]]:
    """Its certificates with days left and expiry counted at `now`, not at the check."""
    return [
        c.to_json()
        | {
            "daysUntilExpiry": days_until(c.not_after(), now),
            "expired": c.not_after() <= now,
        }
        for c in status.certificates
    ]


def metrics(
    config: MonitorConfig, states: Mapping[str, SiteState | None], now: datetime
) -> Iterable[Metric]:
    from prometheus_client.core import GaugeMetricFamily

    labels = ["site", "zone", "endpoint", "subject"]
    expiry = GaugeMetricFamily(
        "qlik_sense_certificate_expiry_timestamp_seconds",
        "When the certificate ends (notAfter, Unix time), as the last successful check read it",
        labels=labels,
    )
    days = GaugeMetricFamily(
        "qlik_sense_certificate_days_until_expiry",
        "UTC calendar days from today to notAfter; 0 on the last day, negative after",
        labels=labels,
    )
    expired = GaugeMetricFamily(
        "qlik_sense_certificate_expired", "1 once the certificate has ended", labels=labels
    )
    for site in config.sites:
        read = last_read(states.get(site.name)) if site.name in states else None
        if read is None:
            continue
        seen = set()
        for c in read.certificates:
            key = (c.endpoint, c.subject)
            if key in seen:  # one series per endpoint and subject: the earliest wins
                continue
            seen.add(key)
            values = [site.name, site.zone or "", c.endpoint, c.subject]
            ends = c.not_after()
            expiry.add_metric(values, ends.timestamp())
            days.add_metric(values, days_until(ends, now))
            expired.add_metric(values, int(ends <= now))
    return (expiry, days, expired)


def digest_rows(
    config: MonitorConfig, states: Mapping[str, SiteState | None], highest: int, today: date
) -> list[DigestRow]:
    """Every certificate expired or at or below the highest level today."""
    moment = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    rows = []
    for site in config.sites:
        read = last_read(states.get(site.name)) if site.name in states else None
        for c in [] if read is None else read.certificates:
            left = days_until(c.not_after(), moment)
            where = f"{site.name} certificate {c.subject} ({c.endpoint})"
            entry = {
                "site": site.name,
                "endpoint": c.endpoint,
                "subject": c.subject,
                "daysUntilExpiry": left,
                "expiryDate": c.notAfter[:10],
            }
            if left < 0:
                rows.append(
                    DigestRow(left, site.name, f"{where}: expired on {c.notAfter[:10]}", entry)
                )
            elif left <= highest:
                text = f"{where}: {left} days left, until {c.notAfter[:10]}"
                rows.append(DigestRow(left, site.name, text, entry))
    return rows
