"""Retries, idempotency and dead letters, shared by every task.

Three layers, from fast to slow: tenacity's quick attempts inside the task for blips;
Celery retries with growing countdowns for outages (the worker is free meanwhile); then a
dead letter, and the task ends as FAILURE so Flower shows it.
"""

from __future__ import annotations

import inspect
import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from licmon.config.model import RetryPolicy
from licmon.deadletters import DeadLetter
from licmon.qrs.errors import QrsError
from licmon.senders.errors import DeliveryError
from worker import runtime
from worker.settings import CLAIM_SECONDS, DONE_SECONDS, MAX_REDELIVERIES

log = logging.getLogger("licmon.tasks")
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DeliveryError | QrsError):
        return exc.transient
    # Redis holds the claims and rate limits: its blips pass; a soft time limit may too.
    return isinstance(exc, redis.RedisError | SoftTimeLimitExceeded)


def quickly(call: Callable[[], T], policy: RetryPolicy) -> T:
    retrying = Retrying(
        stop=stop_after_attempt(policy.quick_attempts)
        | stop_after_delay(policy.quick_window_seconds),
        wait=wait_random_exponential(multiplier=0.25, max=4),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )
    return retrying(call)


def countdown(policy: RetryPolicy, retries: int) -> float:
    """Exponential, jittered so that many sites failing together do not retry together."""
    base = min(policy.backoff_max_seconds, policy.backoff_seconds * 2**retries)
    return base * random.uniform(0.75, 1.0)


class ReliableTask(Task):
    """Caps how often a message may come back after its worker died.

    `acks_late` plus `task_reject_on_worker_lost` redeliver a message whose worker was
    killed. A message that kills every worker it reaches (out of memory) would do so for
    ever; after MAX_REDELIVERIES it is dead-lettered instead.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if request.id and not request.is_eager:
            key = f"licmon:starts:{request.id}:{request.retries}"
            with runtime.redis_client().pipeline() as pipe:
                starts = int(pipe.incr(key).expire(key, CLAIM_SECONDS).execute()[0])
            if starts > MAX_REDELIVERIES + 1:
                reason = f"redelivered {starts - 1} times after lost workers; given up"
                # By name, whether beat, the fan-out or a person passed them by position.
                named = inspect.signature(self.run).bind_partial(*args, **kwargs).arguments
                dead_letter(self, dict(named), reason)
                log.error("%s %s: %s", self.name, request.id, reason)
                return {"deadLettered": reason}
        return super().__call__(*args, **kwargs)


def dead_letter(task: Task, details: dict[str, Any], reason: str) -> None:
    runtime.dead_letters().push(
        DeadLetter(
            task=task.name,
            site=str(details.get("site", "")),
            destination=str(details.get("destination", "")),
            target=str(details.get("target", "")),
            checkId=str(details.get("check_id", "")),
            reason=reason,
            attempts=task.request.retries + 1,
        )
    )


def run_once(
    task: Task,
    claim: str,
    work: Callable[[], T],
    details: dict[str, Any],
) -> T | None:
    """Run `work` once per `claim`, retrying transient failures; None if already done.

    `details` names the site, destination, target and check id for logs and dead letters.
    """
    claims = runtime.claims()
    owner = task.request.id or "eager"
    if not claims.claim(claim, owner, CLAIM_SECONDS):
        log.info("%s: %s already handled or in progress, skipped", task.name, claim)
        return None
    policy = runtime.config().retry
    try:
        result = quickly(work, policy)
    except Exception as exc:
        if is_transient(exc) and task.request.retries < policy.retries:
            delay = countdown(policy, task.request.retries)
            log.warning(
                "%s for site %s: %s; retry %d/%d in %.0f s",
                task.name,
                details.get("site"),
                exc,
                task.request.retries + 1,
                policy.retries,
                delay,
            )
            raise task.retry(exc=exc, countdown=delay, max_retries=policy.retries) from None
        claims.release(claim, owner)
        reason = str(exc) or type(exc).__name__
        dead_letter(task, details, reason)
        log.error(
            "gave up: site %s, destination %s, target %s, check %s: %s",
            details.get("site"),
            details.get("destination", "-"),
            details.get("target", "-"),
            details.get("check_id"),
            reason,
        )
        raise
    claims.complete(claim, DONE_SECONDS)
    return result
