"""What a beat or worker process holds for its lifetime: its config and its resources.

The config is loaded when Celery first needs its settings (`celery -A worker ...` starting),
never when a module is imported; a test hands one in with `use()` instead of a file.
"""

from __future__ import annotations

import sys

from licmon.claims import Claims
from licmon.config import ConfigError, MonitorConfig
from licmon.deadletters import DeadLetters
from licmon.plugins import load_config
from licmon.resources import Resources, process_resources
from licmon.state.alert_history import AlertHistory
from licmon.state.fleet import FleetState
from licmon.state.pending import PendingChecks

_config: MonitorConfig | None = None


def use(config: MonitorConfig) -> None:
    """Run this process on `config` (tests, scripts) instead of $LICMON_CONFIG."""
    global _config
    _config = config


def config() -> MonitorConfig:
    global _config
    if _config is None:
        try:
            _config = load_config()
        except ConfigError as exc:
            # A worker or beat with a broken config must stop with the reason, not a traceback.
            print(f"configuration error: {exc.report()}", file=sys.stderr)
            raise SystemExit(2) from None
        for warning in _config.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return _config


def resources() -> Resources:
    return process_resources(config().broker.url.get_secret_value())


def claims() -> Claims:
    return Claims(resources().redis, prefix="licmon:claim")


def dead_letters() -> DeadLetters:
    return DeadLetters(resources().redis)


def pending() -> PendingChecks:
    return PendingChecks(resources().redis)


def fleet() -> FleetState:
    return FleetState(resources().redis)


def alert_history() -> AlertHistory:
    return AlertHistory(resources().redis)
