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

from licmon.checks.base import CheckKind
from worker import runtime

log = logging.getLogger("licmon.tasks")


def error_kind(exc: BaseException) -> str:
    """The QRS error's `kind` (through `Retryable`, which wraps it), else the class name."""
    for cause in (exc, exc.__cause__):
        kind = getattr(cause, "kind", None)
        if isinstance(kind, str):
            return kind
    return type(exc).__name__


def is_permanent(exc: BaseException) -> bool:
    """A failure a person has to fix (a certificate, a password): no retry helps."""
    transient = getattr(exc, "transient", None)
    return transient is False


def succeeded(kind: CheckKind, site: str, status: dict[str, Any], check_id: str) -> None:
    try:
        runtime.fleet().succeeded(kind.name, site, status, check_id, datetime.now(UTC))
    except redis.RedisError as exc:
        log.warning("%s: the fleet view was not updated: %s", check_id, exc)


def failed(
    kind: CheckKind,
    site: str,
    status: dict[str, Any],
    check_id: str,
    kind_of_error: str,
    reason: str,
) -> int:
    """Records a failed check; the failed checks in a row (0 when Redis could not say)."""
    try:
        return runtime.fleet().failed(
            kind.name, site, status, check_id, datetime.now(UTC), kind_of_error, reason
        )
    except redis.RedisError as error:
        log.warning("%s: the fleet view was not updated: %s", check_id, error)
        return 0
