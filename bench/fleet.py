"""The fleet run: many simulated sites across zones, one worker per zone, a central
delivery worker and a beat, all on this machine; then the same with one zone's worker
stopped, and again once it is back.

    python bench/fleet.py [--sites 500] [--zones 3] [--rounds 2]
        [--qrs-delay 0.25] [--webhook-delay 0.05] [--pool threads] [--zone-concurrency 32]
        [--central-concurrency 32] [--no-outage]

`--qrs-delay` makes every simulated QRS answer after that many seconds and `--webhook-delay`
every webhook, as across a WAN to a busy server; "tick -> last delivery" then ends when
the receiver answers the site's last call (its arrival plus the delay).

Every site's license has 30 days left, so each check delivers a status and an alert: two
webhook calls, timed by the receiver as they arrive. All sites tick together
(`every 1 minute`); for each tick T and site, "tick -> last delivery" is the arrival of the
site's second call minus T, and a zone's sites/s is its site count over the time from T to
its last delivery. Redis is a redis-server of the bench's own, so its memory is the
fleet's alone: used_memory per site after the runs, and the fleet hash's own size.

Reported per round: p50/p95 tick -> last delivery and sites/s, per zone and overall; with
a zone's worker stopped, how many of its checks wait (one per site, whatever the number of
ticks) and, once it is back, how many are delivered (each once).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import percentile

from licmon.simulator import SimulatedLicense, SiteSpec, ensure_qlik_certs, run_simulator
from tests.fleet_support import RedisServer, fleet_document, on_own_redis
from tests.http_receiver import HttpReceiver, run_receiver
from tests.pipeline_support import Deployment, hook, in_days

FREQUENCY = "every 1 minute"
CALLS_PER_CHECK = 2  # status and alert


def raise_descriptor_limit() -> None:
    """500 listening sites plus the workers' connections to them pass the usual soft limit
    of 1024 descriptors (the simulator runs in this process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class Arrivals:
    """Wall-clock arrival of every webhook call, by check id (the receiver stamps
    time.monotonic(); this process converts)."""

    def __init__(self, receiver: HttpReceiver, answer_delay: float = 0.0) -> None:
        self.receiver = receiver
        # A call is delivered when the receiver answers it: its arrival plus the delay.
        self.offset = time.time() - time.monotonic() + answer_delay

    def by_check(self) -> dict[str, list[float]]:
        found: dict[str, list[float]] = defaultdict(list)
        for request in self.receiver.received():
            found[request.headers["x-licmon-check-id"]].append(request.at + self.offset)
        return found


def next_tick(after: datetime) -> datetime:
    return (after + timedelta(minutes=1)).replace(second=0, microsecond=0)


def tick_text(tick: datetime) -> str:
    return tick.strftime("%Y-%m-%dT%H:%M:%SZ")


def measure(
    arrivals: Arrivals,
    tick: datetime,
    zones: dict[str, list[str]],
    served: set[str],
    timeout: float,
) -> dict[str, Any]:
    """Wait until every site of a served zone has its calls for `tick`; the figures."""
    stamp = tick_text(tick)
    wanted = [site for zone in served for site in zones[zone]]
    deadline = time.monotonic() + timeout
    while True:
        found = arrivals.by_check()
        done = {site: found.get(f"{site}@{stamp}", []) for site in wanted}
        if all(len(calls) >= CALLS_PER_CHECK for calls in done.values()):
            break
        if time.monotonic() > deadline:
            missing = sum(len(calls) < CALLS_PER_CHECK for calls in done.values())
            raise SystemExit(f"tick {stamp}: {missing} site(s) not delivered in {timeout} s")
        time.sleep(0.5)
    start = tick.timestamp()
    latency = {site: max(calls) - start for site, calls in done.items()}
    report: dict[str, Any] = {}
    for zone in sorted(served):
        values = [latency[site] for site in zones[zone]]
        report[zone] = summary(values)
    report["all served"] = summary(list(latency.values()))
    return report


def summary(latencies: list[float]) -> dict[str, float]:
    return {
        "sites": len(latencies),
        "sites_per_second": round(len(latencies) / max(latencies), 1),
        "p50_s": round(percentile(latencies, 0.50), 2),
        "p95_s": round(percentile(latencies, 0.95), 2),
    }


def wait_for_tick(tick: datetime) -> None:
    time.sleep(max(0.0, tick.timestamp() - time.time()))


@contextmanager
def fleet(
    root: Path, sites: int, zones: int, qrs_delay: float = 0.0, webhook_delay: float = 0.0
) -> Any:
    raise_descriptor_limit()
    with ExitStack() as stack:
        redis_server = RedisServer()
        redis_server.start()
        stack.callback(redis_server.stop)
        certs = ensure_qlik_certs(root / "certs")
        names = [f"s{i:04d}" for i in range(sites)]
        license_ = SimulatedLicense(valid_to=[in_days(30)])
        if qrs_delay:
            specs = [
                SiteSpec(n, license=license_, fault="slow", slow_seconds=qrs_delay) for n in names
            ]
        else:
            specs = [SiteSpec(n, license=license_) for n in names]
        simulator = stack.enter_context(run_simulator(specs, certs))
        receiver = stack.enter_context(contextmanager(run_receiver)())
        for path in ("/status", "/alert"):
            receiver.on(path, delay=webhook_delay)
        zone_of = {name: f"z{index % zones}" for index, name in enumerate(names)}
        document = fleet_document(certs, simulator, receiver, "/status", zone_of, FREQUENCY)
        notification = document["Butler"]["webhookNotification"]
        notification["qlikSenseServerLicenseExpiryAlert"] = {
            "rateLimit": 0,
            "webhooks": [hook(receiver, "/alert", "POST")],
        }
        document["licmon"]["beat"] = {"leaseSeconds": 15}
        document["licmon"]["timeouts"] = {"webhook": 10, "qrsRead": 30}
        document["licmon"]["retries"] = {}
        deployment = on_own_redis(Deployment(root, document), redis_server)
        stack.callback(deployment.stop_all)
        yield deployment, redis_server, Arrivals(receiver, webhook_delay), zone_of


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--zones", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="measured ticks per phase")
    parser.add_argument("--zone-concurrency", type=int, default=4, help="threads per zone worker")
    parser.add_argument("--central-concurrency", type=int, default=4)
    parser.add_argument("--central-pool", default="prefork", help="the delivery worker's pool")
    parser.add_argument("--qrs-delay", type=float, default=0.0, help="seconds per QRS answer")
    parser.add_argument("--webhook-delay", type=float, default=0.0, help="seconds per webhook")
    parser.add_argument("--no-outage", action="store_true", help="skip the stopped-zone phase")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "sites": args.sites,
        "zones": args.zones,
        "frequency": FREQUENCY,
        "qrs_delay_s": args.qrs_delay,
        "webhook_delay_s": args.webhook_delay,
        "zone_workers": f"threads -c {args.zone_concurrency} each",
        "central_worker": f"{args.central_pool} -c {args.central_concurrency}",
    }
    with (
        tempfile.TemporaryDirectory(prefix="licmon-fleet-") as folder,
        fleet(Path(folder), args.sites, args.zones, args.qrs_delay, args.webhook_delay) as (
            deployment,
            redis_server,
            arrivals,
            zone_of,
        ),
    ):
        zones: dict[str, list[str]] = defaultdict(list)
        for site, zone in zone_of.items():
            zones[zone].append(site)
        state = redis_server.client(0)
        baseline = int(state.info("memory")["used_memory"])
        workers = {
            zone: deployment.start_worker(
                args.zone_concurrency, "--pool", "threads", "-Q", f"license.fetch.{zone}"
            )
            for zone in sorted(zones)
        }
        deployment.start_worker(args.central_concurrency, "--pool", args.central_pool)
        deployment.start_beat(own_state=True)
        # The startup check of every site warms connections and imports; not measured.
        wait_until = time.monotonic() + 300
        while (
            sum(len(calls) for calls in arrivals.by_check().values()) < CALLS_PER_CHECK * args.sites
        ):
            if time.monotonic() > wait_until:
                raise SystemExit("the startup checks were not all delivered within 300 s")
            time.sleep(1)
        everyone = set(zones)
        tick = next_tick(datetime.now(UTC))
        report["all zones up"] = []
        before_rounds = int(state.info("memory")["used_memory"])
        for _ in range(args.rounds):
            wait_for_tick(tick)
            report["all zones up"].append(measure(arrivals, tick, zones, everyone, 120))
            tick = next_tick(datetime.now(UTC))
        used = int(state.info("memory")["used_memory"])
        fleet_keys = list(state.scan_iter(match="licmon:fleet:*", count=1000))
        fleet_bytes = sum(int(state.memory_usage(key) or 0) for key in fleet_keys)
        report["redis"] = {
            # Everything: queues, claims, rate limits, fleet state, Celery's results.
            "used_memory_per_site_bytes": round((used - baseline) / args.sites),
            "checks_per_site_so_far": args.rounds + 1,
            # What each check adds until it expires: its claims (7 days), results (1 day).
            "growth_per_check_per_site_bytes": round(
                (used - before_rounds) / args.rounds / args.sites
            ),
            # The fleet view's own state: one hash per site, overwritten by every check.
            "fleet_hash_bytes_per_site": round(fleet_bytes / max(1, len(fleet_keys))),
            "keys_in_broker_db": int(state.dbsize()),
        }

        if args.no_outage:
            print(json.dumps(report, indent=2))
            return 0
        stopped = sorted(zones)[-1]
        deployment.stop(workers[stopped])
        up = everyone - {stopped}
        report[f"zone {stopped} stopped"] = []
        for _ in range(args.rounds):
            wait_for_tick(tick)
            figures = measure(arrivals, tick, zones, up, 120)
            figures[f"{stopped} queue length"] = int(state.llen(f"license.fetch.{stopped}"))
            report[f"zone {stopped} stopped"].append(figures)
            tick = next_tick(datetime.now(UTC))
        waiting = int(state.llen(f"license.fetch.{stopped}"))
        before = arrivals.by_check()
        started = time.monotonic()
        deployment.start_worker(
            args.zone_concurrency, "--pool", "threads", "-Q", f"license.fetch.{stopped}"
        )

        def drained() -> list[str]:
            found = arrivals.by_check()
            return [
                check
                for check, calls in found.items()
                if check.split("@")[0] in set(zones[stopped])
                and len(calls) >= CALLS_PER_CHECK
                and check not in before
            ]

        while len({check.split("@")[0] for check in drained()}) < len(zones[stopped]):
            if time.monotonic() - started > 300:
                raise SystemExit("the waiting checks were not delivered within 300 s")
            time.sleep(0.5)
        seconds = time.monotonic() - started
        calls = arrivals.by_check()
        report[f"zone {stopped} back"] = {
            "checks that waited": waiting,
            "sites delivered again": len({check.split("@")[0] for check in drained()}),
            # Two calls (status, alert) per check: more would be a check delivered twice.
            "most calls for one check": max(len(calls[check]) for check in drained()),
            "seconds from worker start to the last one": round(seconds, 1),
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
