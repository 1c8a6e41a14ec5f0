"""The server license's edges: `licmon check` and `licmon status` (its table, JSON and exit
code), its exporter metric families and its digest lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric

from licmon.core.digest import DigestRow, Standing, license_row
from licmon.core.server_license import LicenseStatus
from licmon.views import (
    Report,
    age_text,
    aligned,
    check_state,
    error_text,
    exit_code_of,
    fleet_overview,
    is_stale,
    overview_lines,
)

if TYPE_CHECKING:
    import redis

    from licmon.config.model import MonitorConfig, Site
    from licmon.state.fleet import SiteState

SITE_LABELS = ["site", "zone"]


# --- licmon check ------------------------------------------------------------------------


def check_report(statuses: list[LicenseStatus]) -> Report:
    header = ("SITE", "STATUS", "DAYS LEFT", "EXPIRES", "SOURCE", "DETAIL")
    rows = [
        (
            status.site,
            status.status.value.upper(),
            "-" if status.daysUntilExpiry is None else str(status.daysUntilExpiry),
            status.expiryDate or ("never" if status.error is None else "-"),
            status.expirySource or "-",
            status.error or f"threshold {status.thresholdDays} days",
        )
        for status in statuses
    ]
    return Report(
        document=[status.to_json() for status in statuses],
        table="\n".join(aligned([header, *rows])),
        exit_code=exit_code_of(status.status.value for status in statuses),
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
) -> Report:
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
    header = (
        "SITE", "ZONE", "STATUS", "DAYS LEFT", "EXPIRES", "CHECKED", "FAILS", "WAITING", "ERROR",
    )  # fmt: skip
    rows = [
        (
            each["site"],
            each["zone"] or "-",
            each["status"].upper(),
            "-" if each["daysUntilExpiry"] is None else str(each["daysUntilExpiry"]),
            each["expiryDate"] or "-",
            age_text(each["lastChecked"], now),
            str(each["consecutiveFailures"]),
            "yes" if each["waiting"] else "no",
            error_text(each),
        )
        for each in view["sites"]
    ]
    return Report(
        document=view,
        table="\n".join(aligned([header, *rows]) + overview_lines(view)),
        exit_code=exit_code_of(each["status"] for each in view["sites"]),
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
