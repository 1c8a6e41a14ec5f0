"""The reliability settings derived from the config: visibility timeout, time limits, the
restore sweep and claims (licmon/config/reliability.py, worker/settings.py)."""

from __future__ import annotations

import textwrap

import pytest

from licmon.config import ConfigError
from licmon.config.reliability import (
    RESTORE_BOUND_SECONDS,
    claim_seconds,
    countdown_bound,
    longest_countdown,
)
from licmon.plugins import load_config_text

pytestmark = pytest.mark.fast


def load(licmon: str = "{}") -> object:
    return load_config_text(f"licmon: {licmon}\n", env={})


def test_defaults_fit_the_default_visibility_timeout() -> None:
    config = load()
    broker = config.broker  # type: ignore[attr-defined]
    assert broker.visibility_timeout == 600
    assert broker.require_persistence is False
    # QRS connect 5 s + read 30 s, quick window 15 s: soft 64 s, hard 69 s.
    assert (broker.time_limits.soft, broker.time_limits.hard) == (64, 69)
    retry = config.retry  # type: ignore[attr-defined]
    assert retry.backoff_max_seconds == 300
    assert longest_countdown(retry) + broker.time_limits.hard < 600


def test_a_retry_policy_that_outlasts_the_visibility_timeout_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load("{retries: {retries: 20, backoffMaxSeconds: 1800}}")
    report = caught.value.report()
    # The key path and both numbers: the timeout, and the countdown plus hard limit.
    assert "licmon.broker.visibilityTimeoutSeconds: 600 s is too short" in report
    assert "longest countdown (1800 s" in report
    assert "hard time limit (69 s" in report
    assert "is 1869 s; raise it above 1869" in report


def test_a_longer_visibility_timeout_admits_the_long_policy() -> None:
    config = load(
        "{retries: {retries: 20, backoffMaxSeconds: 1800}, broker: "
        "{visibilityTimeoutSeconds: 1870}}"
    )
    assert config.broker.visibility_timeout == 1870  # type: ignore[attr-defined]


def test_short_timeouts_give_short_time_limits_and_admit_a_short_visibility_timeout() -> None:
    config = load(
        textwrap.dedent(
            """\
            {broker: {visibilityTimeoutSeconds: 30},
             timeouts: {webhook: 2, influxDb: 2, mqtt: 2, qrsConnect: 1, qrsRead: 2},
             retries: {quickAttempts: 1, quickWindowSeconds: 1, retries: 3, backoffSeconds: 1,
                       backoffMaxSeconds: 2}}"""
        )
    )
    limits = config.broker.time_limits  # type: ignore[attr-defined]
    # One QRS attempt of 3 s, then the fan-out's publish retry (8 s), then bookkeeping.
    assert (limits.soft, limits.hard) == (13, 18)


def test_the_visibility_timeout_must_be_a_positive_number() -> None:
    with pytest.raises(ConfigError) as caught:
        load("{broker: {visibilityTimeoutSeconds: soon, requirePersistence: maybe}}")
    report = caught.value.report()
    assert "licmon.broker.visibilityTimeoutSeconds: expected a number of seconds > 0" in report
    assert "licmon.broker.requirePersistence: expected true or false, got 'maybe'" in report


def test_celery_gets_the_timeout_the_sweep_and_the_limits() -> None:
    from worker.settings import celery_settings

    config = load(
        "{broker: {url: 'redis://127.0.0.1:1/0', visibilityTimeoutSeconds: 900, "
        "requirePersistence: true}}"
    )
    settings = celery_settings(config)  # type: ignore[arg-type]
    assert settings["broker_transport_options"] == {
        "visibility_timeout": 900,
        # kombu >= 5.7: sweep every 5 s, scanning every time; a dead sweeper's lock 10 s.
        "unacked_restore_interval": 5,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": 10,
    }
    assert RESTORE_BOUND_SECONDS == 15
    assert (settings["task_soft_time_limit"], settings["task_time_limit"]) == (64, 69)


def test_claims_outlive_the_longest_retry_chain_and_every_redelivery() -> None:
    from worker.settings import MAX_REDELIVERIES
    from worker.settings import claim_seconds as settings_claim_seconds

    config = load(
        "{retries: {retries: 20, backoffMaxSeconds: 1800}, broker: "
        "{visibilityTimeoutSeconds: 2000}}"
    )
    retry, broker = config.retry, config.broker  # type: ignore[attr-defined]
    hard = broker.time_limits.hard
    chain = sum(countdown_bound(retry, n) + hard for n in range(retry.retries)) + hard
    held = settings_claim_seconds(config)  # type: ignore[arg-type]
    assert held == claim_seconds(retry, broker.time_limits, 2000, MAX_REDELIVERIES)
    # Every countdown at its longest and every run at its hard limit, then each redelivery
    # the cap allows after the visibility timeout and the sweep.
    assert held >= chain + (MAX_REDELIVERIES + 1) * (2000 + RESTORE_BOUND_SECONDS)
    # Derived, not a constant: the default policy's claim is far shorter.
    assert settings_claim_seconds(load()) < held  # type: ignore[arg-type]
