"""Throughput and latency of the pipeline, against a plain loop doing the same I/O.

    python bench/pipeline.py [--sites 200] [--concurrency 8] [--pool prefork]

Each site's license has 30 days left, so every check delivers a status and an alert:
one InfluxDB point, two MQTT messages and two webhook calls (five deliveries a site).
Reported: sites/s, and p50/p95 of the time from a site's QRS answer to its last delivery;
then the same for a sequential loop in this process (same adapters, no Celery), and the
ratio of the two throughputs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

from common import answer_to_last_delivery, estate, fetch, percentile


def celery_run(estate_: object, sites: list[str], label: str) -> dict[str, float]:
    started_wall = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    pending = [fetch(site, f"{site}@{label}") for site in sites]
    results = [item.get(timeout=600) for item in pending]
    latencies, ends = zip(*(answer_to_last_delivery(result) for result in results), strict=True)
    elapsed = (max(ends) - started_wall).total_seconds()
    return {
        "sites": len(sites),
        "seconds": round(elapsed, 3),
        "sites_per_second": round(len(sites) / elapsed, 2),
        "p50_ms": round(percentile(list(latencies), 0.50) * 1000, 1),
        "p95_ms": round(percentile(list(latencies), 0.95) * 1000, 1),
        "client_wall_seconds": round(time.monotonic() - started, 3),
    }


def sequential_run(config_path: Path, sites: list[str]) -> dict[str, float]:
    import redis

    from licmon.checking import endpoint_for, judge
    from licmon.config import load_config
    from licmon.destinations import DESTINATIONS, Delivery
    from licmon.qrs.client import QrsClient
    from tests.pipeline_support import BROKER_URL

    config = load_config(config_path, env={})
    state = redis.Redis.from_url(BROKER_URL)
    latencies = []
    started = time.monotonic()
    for name in sites:
        site = config.site(name)
        with QrsClient(endpoint_for(site)) as qrs:
            answer = qrs.get_license()
        answered = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        status = judge(site, answer, now, config.date_order)
        delivery = Delivery(site=site, status=status, check_id=f"{name}@sequential", tick=now)
        for destination in DESTINATIONS:
            for target in destination.targets(config, status):
                destination.deliver(config, target, delivery, state)
        latencies.append(time.monotonic() - answered)
    elapsed = time.monotonic() - started
    return {
        "sites": len(sites),
        "seconds": round(elapsed, 3),
        "sites_per_second": round(len(sites) / elapsed, 2),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8, help="worker processes/threads")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"])
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="licmon-bench-") as folder,
        estate(Path(folder), args.sites, status_hooks=1, alert_hooks=1) as world,
    ):
        world.deployment.start(
            "worker", "--pool", args.pool, "-c", str(args.concurrency), ready="ready."
        )
        # Warm-up: connections, database and retention policy creation, imports.
        celery_run(world, world.site_names[:2], "warmup")
        measured = celery_run(world, world.site_names, "bench")
        baseline = sequential_run(world.deployment.config_path, world.site_names)
        calls = len(world.receiver.received())

    report = {
        "celery": measured | {"pool": args.pool, "concurrency": args.concurrency},
        "sequential": baseline,
        "throughput_ratio": round(measured["sites_per_second"] / baseline["sites_per_second"], 2),
        "webhook_calls_received": calls,
    }
    print(json.dumps(report, indent=2))
    print(
        f"\ncelery ({args.pool} x{args.concurrency}): {measured['sites_per_second']} sites/s, "
        f"QRS answer -> last delivery p50 {measured['p50_ms']} ms, p95 {measured['p95_ms']} ms\n"
        f"sequential loop: {baseline['sites_per_second']} sites/s, "
        f"p50 {baseline['p50_ms']} ms, p95 {baseline['p95_ms']} ms\n"
        f"ratio celery/sequential: {report['throughput_ratio']}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
