"""Beats failing over at the default lease: kill -9 the leader again and again.

    python bench/failover.py [--beats 3] [--kills 5] [--lease 15]

Two sites tick `every 2 seconds` to one webhook, with a worker and `--beats` beats on a
Redis of the bench's own. Each round kills the leading beat with SIGKILL, times how long
until another holds the lease (polling Redis every 50 ms), starts a replacement beat, and
waits for a tick of each site from the new leader. At the end every tick is accounted for
from the beats' logs and the receiver: messages sent, checks delivered, and the counts
that must be zero (sent by two beats, delivered twice, lost, delivered but never sent);
plus how many fire times passed with no leader (they run once, as the newest).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from common import REPO  # noqa: F401  (puts the repository on sys.path)

from licmon.simulator import SimulatedLicense, SiteSpec, ensure_qlik_certs, run_simulator
from licmon.state.lease import Lease
from tests.fleet_support import (
    RedisServer,
    delivered,
    fleet_document,
    on_own_redis,
    published,
    tick_accounting,
)
from tests.http_receiver import run_receiver
from tests.pipeline_support import Deployment, in_days, wait_for, worker_settled

SITES = ("t1", "t2")
PERIOD = 2  # "every 2 seconds"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beats", type=int, default=3)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--lease", type=float, default=15, help="licmon.beat.leaseSeconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="licmon-failover-") as folder, ExitStack() as stack:
        root = Path(folder)
        redis_server = RedisServer()
        redis_server.start()
        stack.callback(redis_server.stop)
        certs = ensure_qlik_certs(root / "certs")
        specs = [SiteSpec(s, license=SimulatedLicense(valid_to=[in_days(200)])) for s in SITES]
        simulator = stack.enter_context(run_simulator(specs, certs))
        receiver = stack.enter_context(contextmanager(run_receiver)())
        document = fleet_document(certs, simulator, receiver, "/ticks", {})
        document["licmon"]["beat"] = {"leaseSeconds": args.lease}
        deployment = on_own_redis(Deployment(root, document), redis_server)
        stack.callback(deployment.stop_all)
        worker = deployment.start_worker(4, "--pool", "threads")
        beats = [deployment.start_beat(own_state=True) for _ in range(args.beats)]
        lease = Lease(redis_server.client(0), args.lease)

        def leader_pid() -> int | None:
            holder = lease.holder()
            return None if holder is None else holder.pid

        def one_tick_after(moment: datetime) -> None:
            def fresh() -> bool:
                ticks = [check.split("@")[1] for check in delivered(receiver, "/ticks")]
                return sum(tick > moment.strftime("%Y-%m-%dT%H:%M:%SZ") for tick in ticks) >= 2

            wait_for(fresh, 60, "a tick of every site")

        takeovers, leaderless_fires = [], 0
        one_tick_after(datetime.now(UTC))
        for _ in range(args.kills):
            pid = wait_for(leader_pid, 60, "a leader")
            (leader,) = [beat for beat in beats if beat.pid == pid]
            deployment.kill(leader)
            killed, killed_wall = time.monotonic(), time.time()
            alive = {beat.pid for beat in beats if beat.poll() is None}
            wait_for(
                lambda alive=alive: leader_pid() in alive, 120, "a standby to take over", every=0.05
            )
            takeovers.append(time.monotonic() - killed)
            leaderless_fires += int(time.time() // PERIOD - killed_wall // PERIOD)
            beats.append(deployment.start_beat(own_state=True))
            one_tick_after(datetime.now(UTC))
        for beat in beats:
            deployment.stop(beat)
        logs = [deployment.log_of(beat) for beat in beats]
        sent = sum(len(published(log)) for log in logs)
        wait_for(
            lambda: worker_settled(deployment.log_of(worker), "license.fetch", sent),
            60,
            "the worker to run every check sent",
        )
        figures = tick_accounting(logs, deployment.log_of(worker), delivered(receiver, "/ticks"))
    report = {
        "lease_seconds": args.lease,
        "beats": args.beats,
        "kills": args.kills,
        "takeover_seconds": {
            "each": [round(seconds, 2) for seconds in takeovers],
            "min": round(min(takeovers), 2),
            "median": round(statistics.median(takeovers), 2),
            "max": round(max(takeovers), 2),
        },
        "fire times with no leader, per site (each gap ran once, as its newest)": leaderless_fires,
        "ticks": {
            key: value if isinstance(value, int) else len(value) for key, value in figures.items()
        },
    }
    print(json.dumps(report, indent=2))
    return 0 if all(isinstance(v, int) or not v for v in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
