"""How long a task may run and how long the broker waits for it, derived from the config.

Redis (kombu's ack emulation) hands a message that was delivered but not acknowledged to
another worker once the visibility timeout has passed. That is how the work of a lost worker
(kill -9, OOM, a machine gone) is redone; it is also why the timeout must exceed anything a
live worker legitimately does while holding a message: wait for a retry's countdown (Celery
holds the message until its ETA), then run the task up to its hard time limit. A policy that
does not fit would have its countdowns redelivered to a second worker and run twice, so the
loader refuses it (`check_visibility`).

The time limits follow from the configured timeouts: a task is a few quick attempts of one
network call (tenacity, `tasks.base.quickly`) and, for a fetch, the publication of its
fan-out; the soft limit is the longest that can take, the hard limit a little more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from licmon.config.errors import Problems
from licmon.config.model import RetryPolicy, TimeLimits

# The longest pause between two quick attempts (tenacity's wait_random_exponential max).
QUICK_WAIT_MAX = 4.0
# Publishing a fan-out: kombu retries a broker blip itself before the fetch task gives up
# and retries as a whole, without fetching again. Its sleeps add up to PUBLISH_SECONDS.
PUBLISH_RETRY = {"max_retries": 4, "interval_start": 0.5, "interval_step": 1, "interval_max": 4}
PUBLISH_SECONDS = sum(
    min(
        PUBLISH_RETRY["interval_start"] + step * PUBLISH_RETRY["interval_step"],
        PUBLISH_RETRY["interval_max"],
    )
    for step in range(PUBLISH_RETRY["max_retries"])
)
# Claims, rate limits and dead letters are a few Redis round trips around the call.
BOOKKEEPING_SECONDS = 2.0
# After the soft limit a task still writes its retry or dead letter; then it is killed.
HARD_GRACE_SECONDS = 5.0
# kombu's sweep of messages past their visibility timeout runs this often in every worker;
# a sweeper killed mid-sweep holds its mutex this long at most. A lost message is back in
# its queue within the timeout plus both (RESTORE_BOUND_SECONDS).
RESTORE_SWEEP_SECONDS = 5
RESTORE_MUTEX_SECONDS = 10
RESTORE_BOUND_SECONDS = RESTORE_SWEEP_SECONDS + RESTORE_MUTEX_SECONDS


def quick_seconds(call: float, policy: RetryPolicy) -> float:
    """The longest run of `quickly` over a call bounded by `call` seconds: every attempt,
    or the window plus one last attempt started just before it closed, whichever is less."""
    every_attempt = policy.quick_attempts * call + (policy.quick_attempts - 1) * QUICK_WAIT_MAX
    last_in_window = policy.quick_window_seconds + QUICK_WAIT_MAX + call
    return min(every_attempt, last_in_window)


def time_limits(
    qrs_call: float, delivery_calls: Iterable[float], policy: RetryPolicy
) -> TimeLimits:
    """One pair for every task: the longer of a fetch (QRS call, then publish) and the
    slowest delivery."""
    fetch = quick_seconds(qrs_call, policy) + PUBLISH_SECONDS
    deliveries = [quick_seconds(call, policy) for call in delivery_calls]
    soft = math.ceil(max([fetch, *deliveries]) + BOOKKEEPING_SECONDS)
    return TimeLimits(soft=soft, hard=soft + math.ceil(HARD_GRACE_SECONDS))


def countdown_bound(policy: RetryPolicy, retry: int) -> int:
    """The longest countdown before Celery retry number `retry` (0-based): Celery's
    `get_exponential_backoff_interval`, before its jitter picks something at or below it."""
    factor = max(1, int(policy.backoff_seconds))
    return max(0, min(int(policy.backoff_max_seconds), factor * 2**retry))


def longest_countdown(policy: RetryPolicy) -> int:
    return max((countdown_bound(policy, n) for n in range(policy.retries)), default=0)


def check_visibility(
    visibility_timeout: float, policy: RetryPolicy, limits: TimeLimits, problems: Problems
) -> None:
    """Refuse a retry policy whose countdown plus a run would outlast the visibility timeout:
    Redis would give the waiting retry to a second worker, and it would run twice."""
    needed = longest_countdown(policy) + limits.hard
    if needed >= visibility_timeout:
        problems.add(
            "licmon.broker.visibilityTimeoutSeconds",
            f"{visibility_timeout:g} s is too short for the retry policy: its longest "
            f"countdown ({longest_countdown(policy)} s, licmon.retries.backoffMaxSeconds and "
            f".backoffSeconds) plus the hard time limit ({limits.hard} s, from licmon.timeouts "
            f"and licmon.retries.quickWindowSeconds) is {needed} s; raise it above {needed} "
            "or lower the backoff",
        )


def claim_seconds(
    policy: RetryPolicy, limits: TimeLimits, visibility_timeout: float, redeliveries: int
) -> int:
    """How long a claim must be held: past the longest retry chain the policy allows (every
    run at its hard limit after the longest countdowns) and past every redelivery after a
    lost worker that the cap allows (each comes back after the timeout and a sweep)."""
    countdowns = sum(countdown_bound(policy, n) for n in range(policy.retries))
    chain = countdowns + (policy.retries + 1) * limits.hard
    lost = (redeliveries + 1) * (visibility_timeout + RESTORE_BOUND_SECONDS + limits.hard)
    return math.ceil(chain + lost)
