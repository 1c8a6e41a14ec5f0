"""What `licmon exporter` serves: the fleet state in Redis as Prometheus metrics, read at
every scrape (a custom collector: no value is cached between scrapes, none is made up).

Sources, all written by the workers and beat: each site's last check (licmon/state/fleet.py),
the counters (licmon/state/metrics.py), dead letters (licmon/deadletters.py), queue lengths
(licmon/state/queues.py) and the beat lease (licmon/state/lease.py). No QRS is called.

License metrics come from the site's last *successful* check, so a QRS that stops answering
does not hide an expiry; a site never read successfully (or whose license could not be
read: status `unknown`) has none. Days left are recomputed at scrape time from the expiry
date, in UTC calendar days as licmon/core/expiry.py counts them, so they go on counting
down between checks; the expiry timestamp is the expiry date at 00:00 UTC.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from importlib import metadata
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from licmon.checks import DEFAULT_KIND
from licmon.config.model import MonitorConfig, Site
from licmon.deadletters import DeadLetters
from licmon.destinations import DESTINATIONS
from licmon.state import access_history, metrics
from licmon.state.fleet import FleetState, SiteState
from licmon.state.lease import Lease
from licmon.state.queues import fetch_queue, lengths

SITE_LABELS = ("site", "zone")


def version() -> str:
    try:
        return metadata.version("qlik-license-monitor")
    except metadata.PackageNotFoundError:
        return "unknown"


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


@functools.cache
def _schedule(frequency: str) -> Any:
    from licmon.laterjs import parse_text

    return parse_text(frequency)


def period_seconds(frequency: str, now: datetime) -> float | None:
    """The current period of a schedule: from its next fire time to the one after."""
    from licmon.laterjs import next_fire_time

    first = next_fire_time(_schedule(frequency), now)
    second = None if first is None else next_fire_time(_schedule(frequency), first)
    return None if first is None or second is None else (second - first).total_seconds()


ACCESS_KIND = "access_license"


def _gauge(name: str, documentation: str, labels: tuple[str, ...] = SITE_LABELS) -> Any:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


class FleetCollector(Collector):
    def __init__(
        self,
        client: redis.Redis,
        config: MonitorConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._redis = client
        self._config = config
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        build = _gauge("licmon_build_info", "licmon's version", ("version",))
        build.add_metric([version()], 1)
        yield build
        up = _gauge("licmon_redis_up", "1 when the exporter could read Redis at this scrape", ())
        try:
            families = list(self._families())
        except redis.RedisError:
            # Nothing else is known: no value is better than a stale or made-up one.
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        now = self._clock()
        today = now.astimezone(UTC).date()
        sites = list(self._config.sites)
        zones = {site.name: site.zone or "" for site in sites}
        # The server license's sites: a site may be there for its access licenses alone.
        checked = [site for site in sites if site.schedule(DEFAULT_KIND) is not None]
        states = FleetState(self._redis).read(DEFAULT_KIND, [site.name for site in checked])
        yield from self._license_families(checked, states, today, zones)
        yield from self._check_families(checked, states, now, zones)
        yield from self._delivery_families(zones)
        yield from self._access_families(sites, zones)

    def _access_families(self, sites: list[Site], zones: dict[str, str]) -> Iterator[Metric]:
        """Each access type's numbers of the last successful access check, Butler's field
        names (`qlik_sense_access_license_available{license_type="professional"}`), and
        the forecast of when `available` reaches zero."""
        checked = [site for site in sites if site.schedule(ACCESS_KIND) is not None]
        if not checked:
            return
        names = [site.name for site in checked]
        states = FleetState(self._redis).read(ACCESS_KIND, names)
        forecasts = access_history.forecasts_of(self._redis, names)
        labels = (*SITE_LABELS, "license_type")
        families: dict[str, Any] = {}
        exhausts = _gauge(
            "qlik_sense_access_license_exhausts_in_days",
            "Days until `available` reaches zero at the trend of the daily readings",
            labels,
        )
        for site in checked:
            state = states[site.name]
            status = None if state is None else state.success_status
            if not status or status.get("error"):
                continue
            for license_type, values in sorted((status.get("licenses") or {}).items()):
                for name, value in sorted(values.items()):
                    if name not in families:
                        families[name] = _gauge(
                            f"qlik_sense_access_license_{name}",
                            f"Butler's {name} of the access type, as last read",
                            labels,
                        )
                    families[name].add_metric(
                        [site.name, zones[site.name], license_type], float(value)
                    )
            for license_type, days in forecasts[site.name].items():
                if days is not None:
                    exhausts.add_metric([site.name, zones[site.name], license_type], days)
        yield from families.values()
        yield exhausts

    def _license_families(
        self,
        sites: list[Site],
        states: dict[str, SiteState | None],
        today: date,
        zones: dict[str, str],
    ) -> Iterator[Metric]:
        expiry = _gauge(
            "qlik_sense_license_expiry_timestamp_seconds",
            "When the license expires (Unix time; a bare date is 00:00 UTC of that day)",
        )
        days = _gauge(
            "qlik_sense_license_days_until_expiry",
            "UTC calendar days from today to the expiry date; 0 on the last day, negative after",
        )
        expired = _gauge("qlik_sense_license_expired", "1 when the license has expired")
        perpetual = _gauge("qlik_sense_license_perpetual", "1 when the license has no end date")
        for site in sites:
            state = states[site.name]
            found = None if state is None else license_of(state, today)
            if found is None:
                continue
            labels = [site.name, zones[site.name]]
            if (stamp := found.timestamp()) is not None:
                expiry.add_metric(labels, stamp)
            if (left := found.days_left(today)) is not None:
                days.add_metric(labels, left)
            expired.add_metric(labels, int(found.expired))
            perpetual.add_metric(labels, int(found.perpetual))
        yield from (expiry, days, expired, perpetual)

    def _check_families(
        self,
        sites: list[Site],
        states: dict[str, SiteState | None],
        now: datetime,
        zones: dict[str, str],
    ) -> Iterator[Metric]:
        success = _gauge("licmon_check_success", "1 when the site's last check read its license")
        checked = _gauge("licmon_last_check_timestamp_seconds", "When the site was last checked")
        succeeded = _gauge(
            "licmon_last_success_timestamp_seconds", "When a check of the site last succeeded"
        )
        period = _gauge(
            "licmon_check_period_seconds", "The current period of the site's schedule (frequency)"
        )
        for site in sites:
            labels = [site.name, zones[site.name]]
            if (seconds := period_seconds(site.frequency, now)) is not None:
                period.add_metric(labels, seconds)
            state = states[site.name]
            if state is None or state.last_checked is None:
                continue  # never checked: nothing to say about its checks yet
            success.add_metric(labels, int(state.consecutive_failures == 0))
            checked.add_metric(labels, state.last_checked.timestamp())
            if state.last_success is not None:
                succeeded.add_metric(labels, state.last_success.timestamp())
        failures = CounterMetricFamily(
            "licmon_check_failures",
            "Checks that gave up, by the QRS error's kind (timeout, auth_rejected, ...)",
            labels=[*SITE_LABELS, "kind"],
        )
        for (site, kind), count in sorted(metrics.check_failures(self._redis).items()):
            if site in zones:  # sites removed from the config are not exported
                failures.add_metric([site, zones[site], kind], count)
        yield from (success, checked, succeeded, period, failures)

    def _delivery_families(self, zones: dict[str, str]) -> Iterator[Metric]:
        enabled = [d.name for d in DESTINATIONS if self._config.settings(d.name) is not None]
        deliveries = CounterMetricFamily(
            "licmon_deliveries",
            "Delivery tasks by destination and outcome (delivered, skipped, retried, "
            "dead_lettered)",
            labels=["destination", "outcome"],
        )
        counted = {(d, o): 0 for d in enabled for o in metrics.OUTCOMES}
        counted.update(metrics.deliveries(self._redis))
        for (destination, outcome), count in sorted(counted.items()):
            deliveries.add_metric([destination, outcome], count)
        yield deliveries

        letters = _gauge("licmon_dead_letters", "Dead letters waiting for a replay, by site")
        per_site = Counter(
            json.loads(raw).get("site", "")
            for raw in self._redis.lrange(DeadLetters(self._redis).key, 0, -1)
        )
        for site in sorted(set(zones) | set(per_site)):
            letters.add_metric([site, zones.get(site, "")], per_site[site])
        yield letters

        queue_names = sorted(
            {fetch_queue(None)}
            | {fetch_queue(site.zone) for site in self._config.sites}
            | {f"deliver.{name}" for name in enabled}
        )
        queues = _gauge("licmon_queue_length", "Messages waiting in a queue", ("queue",))
        for name, length in lengths(self._redis, queue_names).items():
            queues.add_metric([name], length)
        yield queues

        holder = Lease(self._redis, self._config.beat.lease_seconds).holder()
        lease = _gauge(
            "licmon_beat_leader_lease_age_seconds",
            "Seconds since the leading beat renewed its lease (absent: no beat leads)",
            (),
        )
        if holder is not None:
            lease.add_metric([], holder.age_seconds)
        yield lease
