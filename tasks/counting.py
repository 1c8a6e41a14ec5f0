"""What the tasks count for `licmon exporter` (licmon/state/metrics.py): each delivery's
outcome and each check that gave up.

Called from `LicmonTask.__call__` / `on_failure` (tasks/base.py) and `FetchTask.on_failure`
(tasks/fetch.py), one line each. Counts are added up in the process and written every few
seconds (`licmon.state.metrics.Batch`). Nothing here may make a task fail: any error while
counting is logged at debug level and the count is lost.
"""

from __future__ import annotations

import logging
from typing import Any

from licmon.state import metrics
from worker import runtime

log = logging.getLogger("licmon.metrics")

# What a webhook delivery returns for a notice its rateLimit held back
# (licmon/destinations/webhook.py); "nothing to send" when no notice was for it.
_HELD_BACK = ("skipped by rateLimit", "nothing to send")


def delivery_outcome(result: Any) -> str:
    """`delivered`, or `skipped` when every notice of the delivery was held back: a
    delivery returns its parts joined by "; " and then " (site ..., check ...)"."""
    if not isinstance(result, str):
        return metrics.DELIVERED
    parts = result.rsplit(" (site ", 1)[0].split("; ")
    held = all(part.startswith(_HELD_BACK) for part in parts)
    return metrics.SKIPPED if held else metrics.DELIVERED


def count_delivery(task: Any, outcome: str, result: Any = None) -> None:
    """Count a delivery task's outcome; a task that delivers nowhere (a check) is not one."""
    destination = task.delivers_to()
    if destination is None:
        return
    try:
        if outcome == metrics.DELIVERED:
            outcome = delivery_outcome(result)
        runtime.resources().counters.delivery(destination, outcome)
    except Exception as exc:  # counting never fails a task
        log.debug("delivery of %s not counted: %s", destination, exc)


def count_check_failure(arguments: dict[str, Any], exc: BaseException) -> None:
    """A check that gave up, by site and error kind (the kind `licmon status` shows)."""
    from tasks.fleet import error_kind

    count_failure(str(arguments.get("site", "")), error_kind(exc))


def count_failure(site: str, kind_of_error: str) -> None:
    """A failed check of `site`: one that gave up, or whose answer was no readable license."""
    try:
        runtime.resources().counters.check_failure(site, kind_of_error)
    except Exception as error:  # counting never fails a task
        log.debug("check failure not counted: %s", error)
