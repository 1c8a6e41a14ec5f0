"""What the fetch task keeps for the fleet view (`licmon status`, licmon/state/fleet.py):
each check's outcome, success or final failure.

The view is a convenience beside the deliveries: if Redis refuses the write, the check
still delivers, and the next check writes again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis

from licmon.checks import DEFAULT_KIND, CheckKind, check_kind
from worker import runtime

log = logging.getLogger("licmon.tasks")


def error_kind(exc: BaseException) -> str:
    """The QRS error's `kind` (through `Retryable`, which wraps it), else the class name."""
    for cause in (exc, exc.__cause__):
        kind = getattr(cause, "kind", None)
        if isinstance(kind, str):
            return kind
    return type(exc).__name__


def succeeded(kind: CheckKind, site: str, status: dict[str, Any], check_id: str) -> None:
    try:
        runtime.fleet().succeeded(kind.name, site, status, check_id, datetime.now(UTC))
    except redis.RedisError as exc:
        log.warning("%s: the fleet view was not updated: %s", check_id, exc)


def failed(arguments: dict[str, Any], exc: BaseException) -> None:
    """The check gave up (after its retries, if any): its failed status and the reason."""
    config = runtime.config()
    check_id = str(arguments.get("check_id") or "")
    try:
        site = config.site(str(arguments.get("site")))
        kind = check_kind(arguments.get("kind") or DEFAULT_KIND)
    except KeyError:
        return  # not a configured site or kind: nothing to show
    now = datetime.now(UTC)
    reason = str(exc) or type(exc).__name__
    try:
        runtime.fleet().failed(
            kind.name,
            site.name,
            kind.failed(site, now, reason).to_json(),
            check_id,
            now,
            error_kind(exc),
            reason,
        )
    except redis.RedisError as error:
        log.warning("%s: the fleet view was not updated: %s", check_id, error)
