"""The baseline: one plain process checking sites one after another, no Celery.

    python bench/sequential.py CONFIG STATE_REDIS_URL LABEL SITE [SITE ...]

Same adapters as the pipeline (QRS client, judging, every destination's sender), one new
QRS connection per site, deliveries one after another. It runs in its own process so that
it does not share a GIL with the harness's servers; its times are taken from the outside
like the pipeline's (check ids are `<site>@<LABEL>`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def checker(config_path: str, state_url: str) -> Callable[[str, str], None]:
    """`check(site, check_id)`: fetch, judge, deliver to every target.

    The ONE place the baseline uses licmon internals (licmon.checking, licmon.destinations,
    Delivery, DESTINATIONS); adapt it here when those APIs change.
    """
    import datetime as dt

    import redis

    from licmon.checking import endpoint_for, judge
    from licmon.config import load_config
    from licmon.destinations import DESTINATIONS, Delivery
    from licmon.qrs.client import QrsClient

    config = load_config(Path(config_path), env={})
    state = redis.Redis.from_url(state_url)

    def check(name: str, check_id: str) -> None:
        site = config.site(name)
        with QrsClient(endpoint_for(site)) as qrs:
            answer = qrs.get_license()
        now = dt.datetime.now(dt.UTC)
        status = judge(site, answer, now, config.date_order)
        delivery = Delivery(site=site, status=status, check_id=check_id, tick=now)
        for destination in DESTINATIONS:
            for target in destination.targets(config, status):
                destination.deliver(config, target, delivery, state)

    return check


def main(argv: list[str]) -> int:
    config_path, state_url, label, *sites = argv
    check = checker(config_path, state_url)
    started = time.monotonic()
    for name in sites:
        check(name, f"{name}@{label}")
    print(f"{len(sites)} sites in {time.monotonic() - started:.3f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
