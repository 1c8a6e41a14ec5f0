"""`licmon deadletters --replay` of a long list, half of it forged (issue 22, item 5): time,
peak memory and the report. Starts its own redis-server; no worker runs, so every sent
letter stays queued.

    python bench/replay_hostile.py [--letters 200000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from licmon.simulator import ensure_qlik_certs
from tests.faults.support import running_redis
from tests.hostile.support import dump, licmon, site_document
from tests.hostile.test_redis_contents import _letter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--letters", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        certs = ensure_qlik_certs(root / "certs")
        with running_redis(root, persistence="none") as server:
            client = server.client(0)
            good, forged = _letter(), _letter("celery.backend_cleanup")
            with client.pipeline(transaction=False) as pipe:
                for number in range(args.letters):
                    pipe.rpush("licmon:deadletters", good if number % 2 else forged)
                pipe.execute()
            config = dump(root, site_document(certs.directory))
            env = {"LICMON_BROKER_URL": server.url(0), "LICMON_RESULT_BACKEND": server.url(1)}
            run = licmon("deadletters", "--replay", "--config", str(config), env=env, timeout=900)
            summary = [line for line in run.out.splitlines() if line.startswith("replayed")]
            print(
                json.dumps(
                    {
                        "letters": args.letters,
                        "exit": run.code,
                        "seconds": round(run.seconds, 1),
                        "peak_rss_mb": round(run.rss_mb, 1),
                        "output_lines": len(run.out.splitlines()),
                        "summary": summary,
                        "queued": client.llen("deliver.webhook"),
                    }
                )
            )


if __name__ == "__main__":
    main()
