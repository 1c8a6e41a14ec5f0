"""The server license's edges: `licmon check` and `licmon status` (its table, JSON and exit
code), its exporter metric families and its digest lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from licmon.core.digest import DigestRow, Standing, license_row
from licmon.core.server_license import LicenseStatus
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

SITE_LABELS = ["site", "zone"]


# --- licmon check ------------------------------------------------------------------------


def site_code(level: str, days: int | None, threshold: int, expired: bool, limits: Limits) -> int:
    """One site's exit code: its level's, or under -w/-c its days left judged again (an
    expired license stays critical; `unknown`, `never`, `stale` are 3)."""
    if level not in ("ok", "warning", "expired"):
        return EXIT_UNKNOWN
    return days_code(days, threshold, limits, expired=expired or level == "expired")


_SHOWN = {0: "OK", 1: "WARNING", 3: "UNKNOWN"}


def shown_level(level: str, code: int) -> str:
    """The STATUS column: the level, or CRITICAL when -c made a license not expired so."""
    if code == EXIT_CRITICAL:
        return "EXPIRED" if level == "expired" else "CRITICAL"
    return _SHOWN.get(code, level.upper()) if level in ("ok", "warning") else level.upper()


def finding(
    site: str, code: int, level: str, days: int | None, expiry: str | None, error: str | None
) -> Finding:
    if code == EXIT_UNKNOWN:
        text = f"{site} {level}" + (f": {error[:60]}" if error else "")
    elif days is None:
        text = f"{site} expired (QRS says so)" if level == "expired" else f"{site} perpetual"
    elif days < 0:
        text = f"{site} expired {-days} days ago ({expiry})"
    else:
        text = f"{site} {days} days left ({expiry})"
    return Finding(code, text, float("inf") if days is None else days)


def perf(site: str, code: int, days: int | None, threshold: int, limits: Limits) -> list[Perf]:
    """Days left per site (`U` when it could not be read; none for a perpetual license)."""
    if days is None and code != EXIT_UNKNOWN:
        return []
    return [days_perf(site, days, threshold, limits)]


def check_report(statuses: list[LicenseStatus], limits: Limits = NO_LIMITS) -> Report:
    header = ("SITE", "STATUS", "DAYS LEFT", "EXPIRES", "SOURCE", "DETAIL")
    codes = [
        site_code(
            s.status.value, s.daysUntilExpiry, s.thresholdDays, bool(s.licenseExpired), limits
        )
        for s in statuses
    ]
    warning_days = [s.thresholdDays if limits.warning is None else limits.warning for s in statuses]
    rows = [
        (
            status.site,
            shown_level(status.status.value, code),
            "-" if status.daysUntilExpiry is None else str(status.daysUntilExpiry),
            status.expiryDate or ("never" if status.error is None else "-"),
            status.expirySource or "-",
            status.error or f"threshold {warn} days",
        )
        for status, code, warn in zip(statuses, codes, warning_days, strict=True)
    ]
    return Report(
        document=[status.to_json() for status in statuses],
        table="\n".join(aligned([header, *rows])),
        exit_code=worst(codes),
        summary=summary(
            [
                finding(s.site, code, s.status.value, s.daysUntilExpiry, s.expiryDate, s.error)
                for s, code in zip(statuses, codes, strict=True)
            ]
        ),
        perfdata=tuple(
            entry
            for s, code in zip(statuses, codes, strict=True)
            for entry in perf(s.site, code, s.daysUntilExpiry, s.thresholdDays, limits)
        ),
    )


# --- licmon status -----------------------------------------------------------------------


def site_view(
    site: Site, frequency: str, state: SiteState | None, waiting: bool, now: datetime
) -> dict[str, Any]:
    status = (state.status or {}) if state else {}
    if state is None or state.last_checked is None:
        level = "never"
    elif is_stale(frequency, state, now):
        level = "stale"
    else:
        level = str(status.get("status") or "unknown")
    return {
        "site": site.name,
        "zone": site.zone,
        "status": level,
        "daysUntilExpiry": status.get("daysUntilExpiry"),
        "expiryDate": status.get("expiryDate"),
        **check_state(state),
        "waiting": waiting,
    }


def status_report(
    client: redis.Redis,
    config: MonitorConfig,
    kind: str,
    sites: list[Site],
    now: datetime,
    threshold: Any = None,
    limits: Limits = NO_LIMITS,
) -> Report:
    """`threshold(site)`: its configured threshold, for a status written without one."""
    from licmon.state.fleet import FleetState
    from licmon.state.queues import fetch_queue

    overview = fleet_overview(client, config)
    states = FleetState(client).read(kind, [site.name for site in sites])
    view = {
        "sites": [
            site_view(
                site,
                site.schedule(kind) or "",
                states[site.name],
                site.name in overview["waiting"][fetch_queue(site.zone)],
                now,
            )
            for site in sites
        ],
        "beat": overview["beat"],
        "queues": overview["queues"],
    }
    thresholds = []
    for site in sites:
        state = states[site.name]
        written = ((state.status or {}) if state else {}).get("thresholdDays")
        if not isinstance(written, int):
            written = threshold(site) if threshold else 0
        thresholds.append(written)
    expired = [
        bool(((state.status or {}) if state else {}).get("licenseExpired"))
        for state in (states[site.name] for site in sites)
    ]
    codes = [
        site_code(each["status"], each["daysUntilExpiry"], days, gone, limits)
        for each, days, gone in zip(view["sites"], thresholds, expired, strict=True)
    ]
    header = (
        "SITE", "ZONE", "STATUS", "DAYS LEFT", "EXPIRES", "CHECKED", "FAILS", "WAITING", "ERROR",
    )  # fmt: skip
    rows = [
        (
            each["site"],
            each["zone"] or "-",
            shown_level(each["status"], code),
            "-" if each["daysUntilExpiry"] is None else str(each["daysUntilExpiry"]),
            each["expiryDate"] or "-",
            age_text(each["lastChecked"], now),
            str(each["consecutiveFailures"]),
            "yes" if each["waiting"] else "no",
            error_text(each),
        )
        for each, code in zip(view["sites"], codes, strict=True)
    ]
    return Report(
        document=view,
        table="\n".join(aligned([header, *rows]) + overview_lines(view)),
        exit_code=worst(codes),
        summary=summary(
            [
                finding(
                    each["site"],
                    code,
                    each["status"],
                    each["daysUntilExpiry"],
                    each["expiryDate"],
                    (each["lastError"] or {}).get("reason"),
                )
                for each, code in zip(view["sites"], codes, strict=True)
            ]
        ),
        perfdata=tuple(
            entry
            for each, code, days in zip(view["sites"], codes, thresholds, strict=True)
            for entry in perf(each["site"], code, each["daysUntilExpiry"], days, limits)
        ),
    )


# --- the exporter ------------------------------------------------------------------------


@dataclass(frozen=True)
class License:
    """A site's license as its last successful check read it, seen at scrape time."""

    expiry: date | None
    expired: bool
    perpetual: bool

    def days_left(self, today: date) -> int | None:
        return None if self.expiry is None else (self.expiry - today).days

    def timestamp(self) -> float | None:
        if self.expiry is None:
            return None
        return datetime.combine(self.expiry, time(0, tzinfo=UTC)).timestamp()


def license_of(state: SiteState, today: date) -> License | None:
    """None when no successful check read the license."""
    status = state.success_status
    if status is None and state.consecutive_failures == 0 and state.last_success is not None:
        status = state.status  # a hash written before `successStatus` existed
    if not status or status.get("status") in (None, "unknown"):
        return None
    expiry = date.fromisoformat(status["expiryDate"]) if status.get("expiryDate") else None
    expired = bool(status.get("licenseExpired")) or (
        expiry is not None and (expiry - today).days < 0
    )
    return License(expiry=expiry, expired=expired, perpetual=expiry is None and not expired)


def metrics(
    config: MonitorConfig, states: Mapping[str, SiteState | None], now: datetime
) -> Iterable[Metric]:
    """License metrics come from the site's last *successful* check, so a QRS that stops
    answering does not hide an expiry. Days left are recomputed at scrape time from the
    expiry date (UTC calendar days, as licmon/core/expiry.py counts them), so they go on
    counting down between checks; the expiry timestamp is the expiry date at 00:00 UTC."""
    from prometheus_client.core import GaugeMetricFamily

    today = now.astimezone(UTC).date()
    expiry = GaugeMetricFamily(
        "qlik_sense_license_expiry_timestamp_seconds",
        "When the license expires (Unix time; a bare date is 00:00 UTC of that day)",
        labels=SITE_LABELS,
    )
    days = GaugeMetricFamily(
        "qlik_sense_license_days_until_expiry",
        "UTC calendar days from today to the expiry date; 0 on the last day, negative after",
        labels=SITE_LABELS,
    )
    expired = GaugeMetricFamily(
        "qlik_sense_license_expired", "1 when the license has expired", labels=SITE_LABELS
    )
    perpetual = GaugeMetricFamily(
        "qlik_sense_license_perpetual", "1 when the license has no end date", labels=SITE_LABELS
    )
    for site in config.sites:
        state = states.get(site.name)
        found = None if state is None else license_of(state, today)
        if found is None:
            continue
        labels = [site.name, site.zone or ""]
        if (stamp := found.timestamp()) is not None:
            expiry.add_metric(labels, stamp)
        if (left := found.days_left(today)) is not None:
            days.add_metric(labels, left)
        expired.add_metric(labels, int(found.expired))
        perpetual.add_metric(labels, int(found.perpetual))
    return (expiry, days, expired, perpetual)


# --- the digest --------------------------------------------------------------------------


def digest_rows(
    config: MonitorConfig,
    states: Mapping[str, SiteState | None],
    threshold: Any,
    today: date,
) -> list[DigestRow]:
    """A site is in it when its last successful check found the license expired, or its
    days left (from today) at or below the highest level of its policy: the level policy's
    highest level, or Butler's `thresholdDays` (`threshold(site)`)."""
    rows = []
    for site in config.sites:
        if site.name not in states:
            continue
        state = states[site.name]
        levels = config.levels(site) or (threshold(site),)
        status = None if state is None else (state.success_status or None)
        row = license_row(Standing(site.name, status, max(levels)), today)
        if row is not None:
            rows.append(row)
    return rows
