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

    The ONE place the baseline uses licmon internals (a check kind, the destinations and
    the process resources); adapt it here when those APIs change.
    """
    import datetime as dt

    from licmon.checks.server_license import SERVER_LICENSE
    from licmon.core import payloads
    from licmon.core.alerts import CheckOutcome
    from licmon.destinations.base import Delivery
    from licmon.plugins import DESTINATIONS, load_config
    from licmon.resources import Resources

    config = load_config(Path(config_path), env={})
    resources = Resources(state_url)

    def check(name: str, check_id: str) -> None:
        site = config.site(name)
        # The site's QRS client is kept between checks, as the workers keep it.
        answer = SERVER_LICENSE.fetch(site, resources)
        now = dt.datetime.now(dt.UTC)
        status = SERVER_LICENSE.evaluate(site, answer, now, config)
        # Butler's notices: the routine status and, at or past the threshold, the alert.
        notices = payloads.notices(status)
        outcome = CheckOutcome(ok=True, checked_at=now)
        delivery = Delivery(site, SERVER_LICENSE, status, notices, check_id, now, outcome)
        alert = any(notice.alert for notice in notices)
        for destination in DESTINATIONS:
            settings = config.settings(destination.name)
            if settings is None:
                continue
            targets = destination.status_targets(settings)
            targets += destination.alert_targets(settings) if alert else []
            for target in dict.fromkeys(targets):
                destination.deliver(settings, target, delivery, resources)

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
