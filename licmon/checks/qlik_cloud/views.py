"""A tenant's edges: `licmon check --kind qlik_cloud` and `licmon status --kind qlik_cloud`
(table, JSON, exit code), its exporter families and its digest lines.

Exit codes as the server license's: 0 ok, 1 at or below the highest level or an allotment
at its minimum, 2 past its end or not `Ok`, 3 the tenant could not be read (for status:
never read, or stale).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric

from licmon.checks.qlik_cloud.status import CloudStatus, days_until
from licmon.core.digest import DigestRow
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


def _allotments_text(status: CloudStatus) -> str:
    return ", ".join(
        f"{a.name} {a.available:g}/{a.units:g}" + (" LOW" if a.name in status.low else "")
        for a in status.allotments
    )


def document(status: CloudStatus) -> dict[str, Any]:
    """The JSON `licmon check` prints for a tenant."""
    data = status.to_json()
    data["allotments"] = [
        {key: a[key] for key in ("name", "units", "unitsUsed", "available")}
        for a in data["allotments"]
    ]
    return data


def check_report(statuses: list[CloudStatus]) -> Report:
    header = ("TENANT", "STATUS", "DAYS LEFT", "ENDS", "LICENSE", "PRODUCT", "DETAIL")
    rows = [
        (
            s.tenant,
            s.status.upper(),
            "-" if s.daysUntilExpiry is None else str(s.daysUntilExpiry),
            s.expiryDate or ("never" if s.error is None else "-"),
            (s.licenseStatus or "-") + (" (trial)" if s.trial else ""),
            s.product or "-",
            s.error or _allotments_text(s) or "-",
        )
        for s in statuses
    ]
    return Report(
        document=[document(status) for status in statuses],
        table="\n".join(aligned([header, *rows])),
        exit_code=exit_code_of(status.status for status in statuses),
    )


def last_read(state: SiteState | None) -> CloudStatus | None:
    status = None if state is None else state.success_status
    if not status or status.get("error"):
        return None
    try:
        return CloudStatus.from_json(status)
    except (KeyError, TypeError, ValueError):
        return None


def status_report(
    client: redis.Redis, config: MonitorConfig, kind: str, sites: list[Site], now: datetime
) -> Report:
    from licmon.state.fleet import FleetState

    overview = fleet_overview(client, config)
    states = FleetState(client).read(kind, [site.name for site in sites])
    views = []
    for site in sites:
        state = states[site.name]
        read = last_read(state)
        if state is None or state.last_checked is None:
            level = "never"
        elif is_stale(site.schedule(kind) or "", state, now):
            level = "stale"
        else:
            level = str((state.status or {}).get("status") or "unknown")
        days = None
        if read is not None and read.expiresAt is not None:
            days = days_until(datetime.fromisoformat(read.expiresAt.replace("Z", "+00:00")), now)
        views.append(
            {
                "tenant": site.name,
                "zone": site.zone,
                "status": level,
                "daysUntilExpiry": days,
                "expiryDate": None if read is None else read.expiryDate,
                "licenseStatus": None if read is None else read.licenseStatus,
                "allotments": [] if read is None else document(read)["allotments"],
                "low": [] if read is None else list(read.low),
                **check_state(state),
            }
        )
    header = ("TENANT", "ZONE", "STATUS", "DAYS LEFT", "ENDS", "CHECKED", "FAILS", "ERROR")
    rows = [
        (
            view["tenant"],
            view["zone"] or "-",
            view["status"].upper(),
            "-" if view["daysUntilExpiry"] is None else str(view["daysUntilExpiry"]),
            view["expiryDate"] or "-",
            age_text(view["lastChecked"], now),
            str(view["consecutiveFailures"]),
            error_text(view),
        )
        for view in views
    ]
    result = {"tenants": views, "beat": overview["beat"], "queues": overview["queues"]}
    return Report(
        document=result,
        table="\n".join(aligned([header, *rows]) + overview_lines(result)),
        exit_code=exit_code_of(view["status"] for view in views),
    )


def metrics(
    config: MonitorConfig, states: Mapping[str, SiteState | None], now: datetime
) -> Iterable[Metric]:
    labels = ["tenant", "zone"]
    ends = GaugeMetricFamily(
        "qlik_cloud_license_expiry_timestamp_seconds",
        "When the tenant's subscription ends (Unix time), as its last successful check read it",
        labels=labels,
    )
    days = GaugeMetricFamily(
        "qlik_cloud_license_days_until_expiry",
        "UTC calendar days from today to the subscription's end; negative after",
        labels=labels,
    )
    usable = GaugeMetricFamily(
        "qlik_cloud_license_ok", "1 while the license's status is Ok", labels=labels
    )
    available = GaugeMetricFamily(
        "qlik_cloud_allotment_available",
        "Units of the allotment not used (units - unitsUsed)",
        labels=[*labels, "allotment"],
    )
    units = GaugeMetricFamily(
        "qlik_cloud_allotment_units", "Units of the allotment", labels=[*labels, "allotment"]
    )
    for site in config.sites:
        read = last_read(states.get(site.name)) if site.name in states else None
        if read is None:
            continue
        values = [site.name, site.zone or ""]
        usable.add_metric(values, int(read.licenseStatus == "Ok"))
        if read.expiresAt is not None:
            end = datetime.fromisoformat(read.expiresAt.replace("Z", "+00:00"))
            ends.add_metric(values, end.timestamp())
            days.add_metric(values, days_until(end, now))
        for allotment in read.allotments:
            available.add_metric([*values, allotment.name], allotment.available)
            units.add_metric([*values, allotment.name], allotment.units)
    return (ends, days, usable, available, units)


def digest_rows(
    config: MonitorConfig, states: Mapping[str, SiteState | None], highest: int, today: date
) -> list[DigestRow]:
    """A tenant past its end or not Ok, at or below the highest level, or with an allotment
    low, as its last successful check read it."""
    moment = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    rows = []
    for site in config.sites:
        read = last_read(states.get(site.name)) if site.name in states else None
        if read is None:
            continue
        entry = {"tenant": site.name, "expiryDate": read.expiryDate, "low": list(read.low)}
        left = None
        if read.expiresAt is not None:
            left = days_until(datetime.fromisoformat(read.expiresAt.replace("Z", "+00:00")), moment)
        where = f"{site.name} (Qlik Cloud)"
        if read.licenseStatus != "Ok":
            rows.append(DigestRow(-1, site.name, f"{where}: license {read.licenseStatus}", entry))
        elif left is not None and left < 0:
            rows.append(DigestRow(left, site.name, f"{where}: ended on {read.expiryDate}", entry))
        elif left is not None and left <= highest:
            text = f"{where}: {left} days left, until {read.expiryDate}"
            rows.append(DigestRow(left, site.name, text, entry))
        for name in read.low:
            rows.append(DigestRow(highest, site.name, f"{where}: {name} allotment low", entry))
    return rows
