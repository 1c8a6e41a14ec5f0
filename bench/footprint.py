"""A one-site deployment measured the way Butler was (butler-behaviour.md, same machine):

1. from starting beat and worker to the first QRS request (Butler: 6.1-6.8 s);
2. resident memory of every process of the deployment after the first check
   (Butler: 146 MB on Node 20, 211-231 MB on Node 24);
3. from the QRS answer to the last delivery, with 6 webhooks, MQTT and InfluxDB
   (Butler: 13-27 ms for 3 to 6 webhooks).

    python bench/footprint.py [--pool prefork|threads] [--concurrency N] [--runs 20]

Memory depends on what is installed: Flower plugs into every `celery` command, so measure
from an environment without it, as the Docker image's `base` stage is (`make footprint`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import estate, fetch, process_tree, wait_drained
from harness import now


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process; PSS shares the pages a prefork pool's children share."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    pss = int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("Pss:")))
    return rss, pss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"])
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--beat-thread", action="store_true", help="one process: beat as a thread of the worker"
    )
    args = parser.parse_args()
    try:
        import flower  # noqa: F401

        flower_installed = True
    except ImportError:
        flower_installed = False

    with (
        tempfile.TemporaryDirectory(prefix="licmon-footprint-") as folder,
        estate(Path(folder), sites=1, status_hooks=3, alert_hooks=3) as world,
    ):
        (site,) = world.site_names
        qrs = world.simulator.sites[site]
        world.deployment.write_config()
        env = world.deployment.env() | {"MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
        # As the images start them (worker/__main__.py), not through `celery`'s whole CLI.
        launcher = [sys.executable, "-m", "worker"]
        quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        pool = ["--pool", args.pool, "-c", str(args.concurrency)]
        started = time.monotonic()
        embedded = ["--beat-thread"] if args.beat_thread else []
        worker = subprocess.Popen([*launcher, "worker", "-l", "WARNING", *pool, *embedded], **quiet)
        beat = (
            None
            if args.beat_thread
            else subprocess.Popen([*launcher, "beat", "-l", "WARNING"], **quiet)
        )
        try:
            while qrs.request_count == 0:
                if time.monotonic() - started > 60:
                    raise SystemExit("no QRS request within 60 s")
                time.sleep(0.005)
            first_request = time.monotonic() - started
            # The startup check's six webhook calls (and its MQTT messages and point).
            while len(world.receiver.received()) < 6:
                time.sleep(0.01)
            time.sleep(1)
            pids = process_tree(worker.pid) + (process_tree(beat.pid) if beat else [])
            memory = {pid: memory_kb(pid) for pid in pids}
            latencies = []
            wait_drained()
            for run in range(args.runs):
                since = now()
                fetch(site, f"{site}@footprint-{run}")
                arrived = world.arrivals.wait(site, 9, since, timeout=60)
                wait_drained()
                answered = world.answers.first(site, since)
                latencies.append((max(a.at for a in arrived) - answered) * 1000)
        finally:
            for process in (beat, worker):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)

    rss = sum(value[0] for value in memory.values()) / 1024
    pss = sum(value[1] for value in memory.values()) / 1024
    report = {
        "pool": args.pool,
        "concurrency": args.concurrency,
        "beat_thread": args.beat_thread,
        "flower_installed": flower_installed,
        "start_to_first_qrs_request_s": round(first_request, 2),
        "processes": len(memory),
        "rss_total_mb": round(rss, 1),
        "pss_total_mb": round(pss, 1),
        "qrs_answer_to_last_delivery_ms": {
            "runs": len(latencies),
            "min": round(min(latencies), 1),
            "median": round(statistics.median(latencies), 1),
            "max": round(max(latencies), 1),
            "timed": "from the outside: simulator answer to arrival (bench/harness.py)",
        },
        "deliveries_per_check": "6 webhooks + MQTT status + MQTT alert + InfluxDB point",
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
