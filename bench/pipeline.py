"""Throughput of the pipeline against a plain loop doing the same I/O.

    python bench/pipeline.py [--sites 500] [--concurrency 8] [--pool prefork]

Each site's license has 30 days left, so every check delivers a status and an alert:
one InfluxDB point, two MQTT messages and two webhook calls (five deliveries a site).
Reported: sites/s (all fetches sent at once, to the last delivery's arrival) and p50/p95
of the time from a site's QRS answer to its last delivery, all timed from the outside;
then the same for a sequential loop (bench/sequential.py, its own process), and the ratio.
Also the file descriptors of every process (paho select()s, so a socket numbered 1024 or
more breaks MQTT; see `descriptors`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import (
    BENCH,
    BROKER_URL,
    DESCRIPTOR_LIMIT,
    MQTT_PORT,
    Estate,
    estate,
    fetch,
    percentile,
    process_tree,
    start_bare_worker,
    wait_drained,
)
from harness import CpuMeter, now, tcp_sockets

DELIVERIES_PER_SITE = 5  # InfluxDB, MQTT status and alert, one status and one alert webhook


def collect(
    world: Estate, sites: list[str], since: float, expected: int, timeout: float
) -> dict[str, Any]:
    """Wait for `expected` deliveries of every site; times from the QRS answers on."""
    deadline = now() + timeout
    wanted = set(sites)
    progress, count = now(), -1
    while True:
        found = world.arrivals.by_site(since)
        done = [s for s in wanted if len(found.get(s, ())) >= expected]
        if len(done) == len(wanted):
            break
        arrived = sum(len(found.get(s, ())) for s in wanted)
        if arrived != count:
            progress, count = now(), arrived
        # Longer than a QRS read timeout (30 s) and a retry: these checks have failed.
        stalled = now() - progress > 45
        if now() > deadline or stalled:
            missing = sorted(wanted - set(done))
            raise TimeoutError(
                f"{len(done)}/{len(wanted)} sites fully delivered"
                f"{' (no delivery for 45 s)' if stalled else ''}; missing: {missing[:20]}"
            )
        time.sleep(0.05)
    latencies, ends = [], []
    for site in sites:
        answered = world.answers.first(site, since)
        last = max(a.at for a in found[site])
        ends.append(last)
        latencies.append(last - answered)
    elapsed = max(ends) - since
    extra = sum(max(0, len(found[s]) - expected) for s in sites)
    return {
        "sites": len(sites),
        "seconds": round(elapsed, 3),
        "sites_per_second": round(len(sites) / elapsed, 2),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "duplicate_deliveries": extra,
    }


def celery_run(world: Estate, sites: list[str], label: str, expected: int) -> dict[str, Any]:
    since = now()
    for site in sites:
        fetch(site, f"{site}@{label}")
    sent = now() - since
    result = collect(world, sites, since, expected, timeout=600)
    wait_drained()
    return result | {"seconds_to_send_all_fetches": round(sent, 3)}


def sequential_run(world: Estate, sites: list[str], label: str, expected: int) -> dict[str, Any]:
    since = now()
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "sequential.py"),
            str(world.deployment.config_path),
            BROKER_URL,
            label,
            *sites,
        ],
        check=True,
        env=world.deployment.env(),
    )
    return collect(world, sites, since, expected, timeout=60)


# --- file descriptors ---------------------------------------------------------------------


def _sockets_to_port(port: int) -> set[str]:
    """Inodes of the TCP sockets whose remote end is 127.0.0.1:`port`."""
    return {inode for _, remote, _, inode in tcp_sockets() if remote == port}


def descriptors(pids: list[int], mqtt_port: int = MQTT_PORT) -> dict[int, dict[str, Any]]:
    """Per process: open descriptors, the highest number, and the MQTT sockets' numbers."""
    mqtt = _sockets_to_port(mqtt_port)
    found = {}
    for pid in pids:
        try:
            entries = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        numbers, mqtt_fds = [], []
        for entry in entries:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{entry}")
            except OSError:
                continue
            numbers.append(int(entry))
            if target.startswith("socket:[") and target[8:-1] in mqtt:
                mqtt_fds.append(int(entry))
        found[pid] = {
            "open": len(numbers),
            "highest": max(numbers, default=-1),
            "mqtt_socket_fds": sorted(mqtt_fds),
        }
    return found


class DescriptorWatch:
    """Samples `descriptors` of some processes every 0.25 s; keeps each one's peak."""

    def __init__(self, trees: dict[str, int], singles: dict[str, int]) -> None:
        self.trees = trees
        self.singles = singles
        self.peaks: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.25)

    def sample(self) -> None:
        chosen = [(label, root, process_tree(root)) for label, root in self.trees.items()]
        chosen += [(label, pid, [pid]) for label, pid in self.singles.items()]
        for label, root, pids in chosen:
            for pid, seen in descriptors(pids).items():
                name = f"{label}[{pid}]" if pid != root else label
                peak = self.peaks.setdefault(name, {"open": 0, "highest": -1, "mqtt": set()})
                peak["open"] = max(peak["open"], seen["open"])
                peak["highest"] = max(peak["highest"], seen["highest"])
                peak["mqtt"].update(seen["mqtt_socket_fds"])

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()
        return {
            "limit": DESCRIPTOR_LIMIT,
            "select_limit_FD_SETSIZE": 1024,
            "processes": {
                name: {
                    "peak_open": peak["open"],
                    "peak_highest_fd": peak["highest"],
                    "mqtt_socket_fds": sorted(peak["mqtt"]),
                }
                for name, peak in sorted(self.peaks.items())
            },
        }


def throughput(
    root: Path,
    sites: int,
    pool: str,
    concurrency: int,
    services: set[int] | None = None,
    task_events: bool | None = None,
    rounds: int = 2,
) -> dict[str, Any]:
    """The pipeline and the bare app, `rounds` times each, alternating (a change in the
    machine's load hits both); each app's sites/s over all its rounds."""
    runs: dict[str, list[dict[str, Any]]] = {"celery": [], "bare_celery": []}
    cpu: dict[str, list[dict[str, float]]] = {"celery": [], "bare_celery": []}
    fds: dict[str, Any] = {}
    with estate(root, sites, status_hooks=1, alert_hooks=1, task_events=task_events) as world:
        for round_ in range(rounds):
            worker = world.deployment.start(
                "worker", "--pool", pool, "-c", str(concurrency), ready="ready."
            )
            # Warm-up: connections, database and retention policy creation, imports.
            celery_run(world, world.site_names[:2], f"warmup-{round_}", DELIVERIES_PER_SITE)
            world.receiver.requests.clear()
            watch = DescriptorWatch({"worker": worker.pid}, {"bench": os.getpid()})
            meter = CpuMeter(services or set())
            measured = celery_run(world, world.site_names, f"bench-{round_}", DELIVERIES_PER_SITE)
            runs["celery"].append(measured)
            cpu["celery"].append(meter.stop())
            peaks = watch.stop()
            if round_ == 0:
                fds = peaks | {"bench_mqtt_subscriber_fd": world.mqtt.socket_fd()}
            world.deployment.stop(worker)
            # The same run through the bare Celery app: what Celery itself can do here, with
            # task events as the pipeline has them (its default: on, for Flower).
            bare_worker = start_bare_worker(
                world, pool, concurrency, events=task_events is not False
            )
            celery_run(world, world.site_names[:2], f"bare-warmup-{round_}", DELIVERIES_PER_SITE)
            world.receiver.requests.clear()
            meter = CpuMeter(services or set())
            bare = celery_run(world, world.site_names, f"bare-{round_}", DELIVERIES_PER_SITE)
            runs["bare_celery"].append(bare)
            cpu["bare_celery"].append(meter.stop())
            world.deployment.stop(bare_worker)
            world.receiver.requests.clear()
        meter = CpuMeter(services or set())
        baseline = sequential_run(world, world.site_names, "sequential", DELIVERIES_PER_SITE)
        cpu_sequential = meter.stop()
        calls = len(world.receiver.received())
    measured, bare = _over_rounds(runs["celery"]), _over_rounds(runs["bare_celery"])
    return {
        "celery": measured | {"pool": pool, "concurrency": concurrency},
        "bare_celery": bare | {"pool": pool, "concurrency": concurrency},
        "sequential": baseline,
        "throughput_ratio": round(measured["sites_per_second"] / baseline["sites_per_second"], 2),
        "bare_ratio": round(bare["sites_per_second"] / baseline["sites_per_second"], 2),
        "deliveries_per_site": DELIVERIES_PER_SITE,
        "sequential_webhook_calls_received": calls,
        "cpu": {
            "celery": _cpu_over_rounds(cpu["celery"]),
            "bare_celery": _cpu_over_rounds(cpu["bare_celery"]),
            "sequential": cpu_sequential,
        },
        "descriptors": fds,
    }


def _over_rounds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    sites = sum(run["sites"] for run in runs)
    seconds = sum(run["seconds"] for run in runs)
    return {
        "sites": sites,
        "seconds": round(seconds, 3),
        "sites_per_second": round(sites / seconds, 2),
        "p50_ms": round(statistics.median(run["p50_ms"] for run in runs), 1),
        "p95_ms": round(statistics.median(run["p95_ms"] for run in runs), 1),
        "duplicate_deliveries": sum(run["duplicate_deliveries"] for run in runs),
        "rounds": runs,
    }


def _cpu_over_rounds(meters: list[dict[str, float]]) -> dict[str, float]:
    """Cores weighted by each round's seconds."""
    seconds = sum(meter["seconds"] for meter in meters)
    return {"seconds": round(seconds, 1)} | {
        key: round(sum(meter[key] * meter["seconds"] for meter in meters) / seconds, 2)
        for key in meters[0]
        if key != "seconds"
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8, help="worker processes/threads")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"])
    parser.add_argument("--task-events", choices=["on", "off"], default="on", help="both apps")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="licmon-bench-") as folder:
        report = throughput(
            Path(folder),
            args.sites,
            args.pool,
            args.concurrency,
            task_events=args.task_events == "on",
        )
    print(json.dumps(report, indent=2))
    measured, baseline = report["celery"], report["sequential"]
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
