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

import logging
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from licmon.config.model import MonitorConfig, Site
from licmon.core.text import printable
from licmon.deadletters import DeadLetter, DeadLetters
from licmon.state import metrics
from licmon.state.fleet import FleetState, SiteState
from licmon.state.lease import Lease
from licmon.state.queues import fetch_queue, lengths
from licmon.views import period_seconds

log = logging.getLogger("licmon.exporter")
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
        # part -> the failure last reported for it (reported again only when it changes)
        self._failing: dict[str, str] = {}

    def collect(self) -> Iterator[Metric]:
        build = _gauge("licmon_build_info", "licmon's version", ("version",))
        build.add_metric([version()], 1)
        yield build
        up = _gauge("licmon_redis_up", "1 when the exporter could read Redis at this scrape", ())
        parts = _gauge(
            "licmon_exporter_part_up",
            "1 when the part's series were read at this scrape; 0 when they were dropped "
            "because Redis held something unreadable for it (the log names it once)",
            ("part",),
        )
        try:
            families, health = self._parts()
        except (redis.ConnectionError, redis.TimeoutError):
            # Redis itself is gone: nothing else is known, and no value is better than a
            # stale or made-up one.
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for part, ok in health.items():
            parts.add_metric([part], int(ok))
        yield parts
        yield from families

    def _parts(self) -> tuple[list[Metric], dict[str, bool]]:
        """Every part's families, each part read on its own: a part that fails on what Redis
        holds (a WRONGTYPE key, a value no reader expected) drops its own series, never the
        scrape's. Redis unreachable is raised: it is every part's failure."""
        now = self._clock()
        config = self._config
        zones = {site.name: site.zone or "" for site in config.sites}
        fleet = FleetState(self._redis)
        families: list[Metric] = []
        health: dict[str, bool] = {}
        checked: list[tuple[str, Site, SiteState | None]] = []

        def run(part: str, read: Callable[[], Iterator[Metric]]) -> bool:
            try:
                found = list(read())
            except (redis.ConnectionError, redis.TimeoutError):
                raise
            except Exception as exc:  # any reader's failure is this part's alone
                self._report(part, exc)
                health[part] = False
                return False
            self._failing.pop(part, None)
            families.extend(found)
            health[part] = True
            return True

        for kind in config.plugins.kinds:
            sites = config.sites_of(kind.name)
            if not sites:
                continue
            states: dict[str, SiteState | None] = {}

            def read_kind(
                kind: Any = kind,
                sites: list[Site] = sites,
                states: dict[str, SiteState | None] = states,
            ) -> Iterator[Metric]:
                states.update(fleet.read(kind.name, [site.name for site in sites]))
                return kind.metrics(self._redis, config, states, now)

            if run(kind.name, read_kind):
                checked += [(kind.name, site, states[site.name]) for site in sites]
        run("checks", lambda: self._check_families(checked, now, zones))
        run("deliveries", self._deliveries)
        run("dead_letters", lambda: self._dead_letters(zones))
        run("queues", self._queues)
        run("lease", self._lease)
        return families, health

    def _report(self, part: str, exc: Exception) -> None:
        """One warning line when a part starts failing (or fails differently), never a
        traceback per scrape: a scrape every 15 s would fill a disk with the same one."""
        frames = traceback.extract_tb(exc.__traceback__)
        where = (
            f" at {frames[-1].filename.rsplit('/', 2)[-1]}:{frames[-1].lineno}" if frames else ""
        )
        signature = f"{type(exc).__name__}{where}"
        if self._failing.get(part) == signature:
            return
        self._failing[part] = signature
        log.warning(
            "exporter part %s dropped its series: %s (%s); "
            "licmon_exporter_part_up{part=%r} is 0 until it reads again",
            part,
            signature,
            printable(str(exc), 200),
            part,
        )

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

    def _enabled(self) -> list[str]:
        return [
            destination.name
            for destination in self._config.plugins.destinations
            if any(
                self._config.settings(destination.name, kind) is not None
                for kind in self._config.destinations
            )
        ]

    def _deliveries(self) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "licmon_deliveries",
            "Delivery tasks by destination and outcome (delivered, skipped, retried, "
            "dead_lettered)",
            labels=["destination", "outcome"],
        )
        counted = {(d, o): 0 for d in self._enabled() for o in metrics.OUTCOMES}
        counted.update(metrics.deliveries(self._redis))
        for (destination, outcome), count in sorted(counted.items()):
            deliveries.add_metric([destination, outcome], count)
        yield deliveries

    def _dead_letters(self, zones: dict[str, str]) -> Iterator[Metric]:
        letters = _gauge("licmon_dead_letters", "Dead letters waiting for a replay, by site")
        # A malformed entry is counted under site "" (it is still waiting for someone).
        per_site = Counter(
            entry.site if isinstance(entry, DeadLetter) else ""
            for entry in DeadLetters(self._redis).scan()
        )
        for site in sorted(set(zones) | set(per_site)):
            letters.add_metric([site, zones.get(site, "")], per_site[site])
        yield letters

    def _queues(self) -> Iterator[Metric]:
        queue_names = sorted(
            {fetch_queue(None)}
            | {fetch_queue(site.zone) for site in self._config.sites}
            | {f"deliver.{name}" for name in self._enabled()}
        )
        queues = _gauge("licmon_queue_length", "Messages waiting in a queue", ("queue",))
        for name, length in lengths(self._redis, queue_names).items():
            queues.add_metric([name], length)
        yield queues

    def _lease(self) -> Iterator[Metric]:
        holder = Lease(self._redis, self._config.beat.lease_seconds).holder()
        lease = _gauge(
            "licmon_beat_leader_lease_age_seconds",
            "Seconds since the leading beat renewed its lease (absent: no beat leads)",
            (),
        )
        if holder is not None:
            lease.add_metric([], holder.age_seconds)
        yield lease
