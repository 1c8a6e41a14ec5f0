"""What `licmon exporter` serves: the fleet state in Redis as Prometheus metrics, read at
every scrape (a custom collector: no value is cached between scrapes, none is made up).

Sources, all written by the workers and beat: each site's last check of each kind
(licmon/state/fleet.py), the counters (licmon/state/metrics.py), dead letters
(licmon/deadletters.py), queue lengths (licmon/state/queues.py) and the beat lease
(licmon/state/lease.py). No QRS is called.

Each check kind serves its own families (`CheckKind.metrics`: license expiry, access seats,
certificates); the checks' own health (`licmon_check_*`) is served here for every kind,
labelled `check` with the kind's name.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from licmon.config.model import MonitorConfig, Site
from licmon.deadletters import DeadLetters
from licmon.state import metrics
from licmon.state.fleet import FleetState, SiteState
from licmon.state.lease import Lease
from licmon.state.queues import fetch_queue, lengths
from licmon.views import period_seconds

SITE_LABELS = ("site", "zone")
CHECK_LABELS = ("site", "zone", "check")


def version() -> str:
    try:
        return metadata.version("qlik-license-monitor")
    except metadata.PackageNotFoundError:
        return "unknown"


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
        config = self._config
        zones = {site.name: site.zone or "" for site in config.sites}
        fleet = FleetState(self._redis)
        checked: list[tuple[str, Site, SiteState | None]] = []
        for kind in config.plugins.kinds:
            sites = config.sites_of(kind.name)
            if not sites:
                continue
            states = fleet.read(kind.name, [site.name for site in sites])
            yield from kind.metrics(self._redis, config, states, now)
            checked += [(kind.name, site, states[site.name]) for site in sites]
        yield from self._check_families(checked, now, zones)
        yield from self._delivery_families(zones)

    def _check_families(
        self,
        checked: list[tuple[str, Site, SiteState | None]],
        now: datetime,
        zones: dict[str, str],
    ) -> Iterator[Metric]:
        success = _gauge(
            "licmon_check_success", "1 when the site's last check read its source", CHECK_LABELS
        )
        last = _gauge(
            "licmon_last_check_timestamp_seconds", "When the site was last checked", CHECK_LABELS
        )
        succeeded = _gauge(
            "licmon_last_success_timestamp_seconds",
            "When a check of the site last succeeded",
            CHECK_LABELS,
        )
        period = _gauge(
            "licmon_check_period_seconds",
            "The current period of the site's schedule (frequency) for the check",
            CHECK_LABELS,
        )
        for kind, site, state in checked:
            labels = [site.name, zones[site.name], kind]
            frequency = site.schedule(kind) or ""
            if (seconds := period_seconds(frequency, now)) is not None:
                period.add_metric(labels, seconds)
            if state is None or state.last_checked is None:
                continue  # never checked: nothing to say about its checks yet
            success.add_metric(labels, int(state.consecutive_failures == 0))
            last.add_metric(labels, state.last_checked.timestamp())
            if state.last_success is not None:
                succeeded.add_metric(labels, state.last_success.timestamp())
        failures = CounterMetricFamily(
            "licmon_check_failures",
            "Checks that gave up, by the source error's kind (timeout, auth_rejected, ...)",
            labels=[*SITE_LABELS, "kind"],
        )
        for (site, kind), count in sorted(metrics.check_failures(self._redis).items()):
            if site in zones:  # sites removed from the config are not exported
                failures.add_metric([site, zones[site], kind], count)
        yield from (success, last, succeeded, period, failures)

    def _delivery_families(self, zones: dict[str, str]) -> Iterator[Metric]:
        enabled = [
            destination.name
            for destination in self._config.plugins.destinations
            if any(
                self._config.settings(destination.name, kind) is not None
                for kind in self._config.destinations
            )
        ]
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
