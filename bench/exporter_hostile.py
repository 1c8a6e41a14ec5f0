"""The exporter's HTTP server under hostile clients, before and after its bounds
(issue 22, item 3): memory and threads with parked connections, and a burst of scrapes.

    python bench/exporter_hostile.py [--old] [--parked 150] [--header-kb 6000] [--line-kb 60]
        [--burst 1000]

`--old` serves the same collector on the threading server of before (no deadline, no caps,
a backlog of 5). Needs redis-server; starts its own on a free port. JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from licmon.simulator import ensure_qlik_certs
from tests.faults.support import running_redis
from tests.hostile.slow_clients import exporter, let_go, park, scrape_burst, usage
from tests.hostile.support import dump, site_document
from tests.services import free_port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", action="store_true")
    parser.add_argument("--parked", type=int, default=150)
    parser.add_argument("--header-kb", type=int, default=6000)
    parser.add_argument("--line-kb", type=int, default=60)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        certs = ensure_qlik_certs(root / "certs")
        with running_redis(root, persistence="none") as server:
            document = site_document(certs.directory)
            config = dump(root, document)
            port = free_port()
            env = {"LICMON_BROKER_URL": server.url(0)}
            with exporter(config, env, port, root / "log", old_server=args.old) as process:
                report: dict[str, object] = {"server": "old" if args.old else "bounded"}
                report["idle"] = usage(process.pid).__dict__
                started = time.monotonic()
                parked = park(
                    port, args.parked, args.header_kb * 1024, line_bytes=args.line_kb * 1024
                )
                report["parking_seconds"] = round(time.monotonic() - started, 1)
                time.sleep(1)
                report["parked"] = usage(process.pid).__dict__
                time.sleep(20)
                report["parked_after_21s"] = usage(process.pid).__dict__
                report["let_go_after_21s"] = sum(let_go(sock) for sock in parked)
                for sock in parked:
                    sock.close()
                time.sleep(1)
                started = time.monotonic()
                report["burst"] = scrape_burst(port, args.burst, seconds=120)
                report["burst_seconds"] = round(time.monotonic() - started, 1)
                report["after"] = usage(process.pid).__dict__
    print(json.dumps(report))


if __name__ == "__main__":
    main()
