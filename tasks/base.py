"""The base of every task: idempotency claims, declared retries, dead letters.

Three layers, from fast to slow: tenacity's quick attempts inside the task for blips
(`quickly`); Celery's declared retries (autoretry on `Retryable`, with the jittered
exponential countdowns of `worker.settings.retry_annotations`) for outages, the worker
being free meanwhile; then `on_failure` writes the dead letter, whatever raised, and the
task ends as FAILURE so Flower shows it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from celery import Task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from licmon.claims import DONE
from licmon.config.model import RetryPolicy
from licmon.config.reliability import QUICK_WAIT_MAX
from licmon.core.source import SourceError
from licmon.deadletters import DeadLetter
from licmon.senders.errors import DeliveryError
from licmon.state import metrics
from tasks import counting
from worker import runtime
from worker.settings import DONE_SECONDS, MAX_REDELIVERIES, claim_seconds

log = logging.getLogger("licmon.tasks")
T = TypeVar("T")


class Retryable(Exception):
    """A transient failure that outlived the quick attempts: Celery retries the task."""


class RedeliveryLimit(Exception):
    """The message came back too often after its worker died; it is given up."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DeliveryError | SourceError):
        return exc.transient
    # Redis holds the claims and rate limits: its blips pass; a soft time limit may too.
    return isinstance(exc, redis.RedisError | SoftTimeLimitExceeded)


def quickly(call: Callable[[], T], policy: RetryPolicy) -> T:
    """`call`, with a few quick attempts on transient errors; a transient error that
    outlives them becomes `Retryable`, a permanent one is raised as it is."""
    try:
        return _retrying(policy)(call)
    except Exception as exc:
        if is_transient(exc):
            raise Retryable(str(exc) or type(exc).__name__) from exc
        raise


@functools.lru_cache(maxsize=16)
def _retrying(policy: RetryPolicy) -> Retrying:
    # One per policy, made once: tenacity keeps each call's state per thread, so a Retrying
    # may serve every task of the process (building one costs more than a quick call).
    return Retrying(
        stop=stop_after_attempt(policy.quick_attempts)
        | stop_after_delay(policy.quick_window_seconds),
        wait=wait_random_exponential(multiplier=0.25, max=QUICK_WAIT_MAX),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )


@dataclass(frozen=True)
class Done:
    """What `before_claim` returns when the message needs no run here (it was forwarded)."""

    result: Any


class LicmonTask(Task):
    """Runs once per claim, retries `Retryable`, dead-letters every final failure.

    A subclass says what its claim is (`claim_name`) and what its dead letter names
    (`describe`); `max_retries` and the backoff come from `task_annotations`.
    """

    abstract = True
    autoretry_for = (Retryable,)

    def claim_name(self, arguments: dict[str, Any]) -> str:
        raise NotImplementedError

    def describe(self, arguments: dict[str, Any]) -> dict[str, str]:
        """site, destination, target and check id, for logs and dead letters."""
        raise NotImplementedError

    def _signature(self) -> inspect.Signature:
        # Computed once per task: inspect.signature costs more than a Redis round trip.
        signature = self.__dict__.get("_licmon_signature")
        if signature is None:
            signature = self.__dict__["_licmon_signature"] = inspect.signature(self.run)
        return signature

    def delivers_to(self) -> str | None:
        """The destination this run delivers to, for the exporter's counts; None: a check."""
        return None

    def before_claim(self, arguments: dict[str, Any]) -> dict[str, Any] | Done:
        """The arguments to run with (a subclass may change them), or `Done`: this message
        is handled without a run and without a claim."""
        return arguments

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Task arguments by name, whether beat, the fan-out or a person passed them by
        position."""
        signature = self._signature()
        if not args and kwargs.keys() <= signature.parameters.keys():
            # How the project sends every task (by name): no binding needed.
            return self._defaults() | kwargs
        bound = signature.bind_partial(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def _defaults(self) -> dict[str, Any]:
        defaults = self.__dict__.get("_licmon_defaults")
        if defaults is None:
            defaults = self.__dict__["_licmon_defaults"] = {
                name: parameter.default
                for name, parameter in self._signature().parameters.items()
                if parameter.default is not inspect.Parameter.empty
            }
        return defaults

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if not request.id:  # called as a function (tests of the body alone)
            return super().__call__(*args, **kwargs)
        arguments = self.arguments(args, kwargs)
        prepared = self.before_claim(arguments)
        if isinstance(prepared, Done):
            return prepared.result
        if prepared != arguments:
            # Run, retry and dead-letter with the changed arguments alike.
            arguments, args, kwargs = prepared, (), prepared
            request.args, request.kwargs = args, kwargs
        claim = self.claim_name(arguments)
        claims = runtime.claims()
        seconds = claim_seconds(runtime.config())
        starts = claims.start(claim, request.id, seconds)
        if starts == 0:
            log.info("%s: %s already handled or in progress, skipped", self.name, claim)
            counting.count_delivery(self, metrics.SKIPPED)  # metrics (licmon exporter)
            if arguments.get("replay_of") and claims.holder(claim) == DONE:
                # A replay of what was delivered after all: its dead letter is done with.
                self.replayed(arguments)
            return None
        request.licmon_starts = starts
        # Every retry starts again under the same id; what is left came back after a lost worker.
        redeliveries = starts - request.retries - 1
        if redeliveries > MAX_REDELIVERIES:
            raise RedeliveryLimit(f"redelivered {redeliveries} times after lost workers; given up")
        try:
            result = super().__call__(*args, **kwargs)
        except Retry:
            counting.count_delivery(self, metrics.RETRIED)  # metrics (licmon exporter)
            raise
        claims.complete(claim, DONE_SECONDS)
        counting.count_delivery(self, metrics.DELIVERED, result)  # metrics (licmon exporter)
        self.replayed(arguments)
        return result

    def replayed(self, arguments: dict[str, Any]) -> None:
        """A replay (`licmon deadletters --replay`) succeeded: its letter leaves the list."""
        if replay_of := arguments.get("replay_of"):
            runtime.dead_letters().remove(replay_of)
            log.info("%s: replay of %s succeeded; dead letter removed", self.name, replay_of)

    def on_failure(
        self,
        exc: Exception,
        task_id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        einfo: Any,
    ) -> None:
        arguments = self.arguments(args, kwargs)
        replay_of = arguments.pop("replay_of", None)
        details = self.describe(arguments)
        reason = str(exc) or type(exc).__name__
        starts = getattr(self.request, "licmon_starts", None) or self.request.retries + 1
        try:
            runtime.claims().release(self.claim_name(arguments), task_id)
            runtime.dead_letters().push(
                DeadLetter(
                    task=self.name,
                    site=details["site"],
                    destination=details["destination"],
                    target=details["target"],
                    checkId=details["check_id"],
                    reason=reason,
                    attempts=starts,
                    taskId=task_id,
                    # What a replay sends again: the task's own arguments, no secret.
                    arguments=arguments,
                )
            )
            if replay_of:
                # A replay that failed again: its new letter takes the old one's place.
                runtime.dead_letters().remove(replay_of)
        finally:
            counting.count_delivery(self, metrics.DEAD_LETTERED)  # metrics (licmon exporter)
            log.error(
                "gave up: site %s, destination %s, target %s, check %s, after %d start(s): %s",
                details["site"],
                details["destination"],
                details["target"],
                details["check_id"],
                starts,
                reason,
            )
