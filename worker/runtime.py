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
from licmon.resources import Resources, current, process_resources
from licmon.state.alert_history import AlertHistory
from licmon.state.fleet import FleetState
from licmon.state.pending import PendingChecks

# The config is kept in the process's state (licmon.resources.Process): a prefork child
# inherits its parent's, as it inherited this module's global before.


def use(config: MonitorConfig) -> None:
    """Run this process on `config` (tests, scripts) instead of $LICMON_CONFIG."""
    current().config = config


def config() -> MonitorConfig:
    process = current()
    if process.config is None:
        try:
            loaded = load_config()
        except ConfigError as exc:
            # A worker or beat with a broken config must stop with the reason, not a traceback.
            print(f"configuration error: {exc.report()}", file=sys.stderr)
            raise SystemExit(2) from None
        for warning in loaded.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        process.config = loaded
    config: MonitorConfig = process.config
    return config


def resources() -> Resources:
    return process_resources(config().broker)


def claims() -> Claims:
    here = resources()
    return here.view(Claims, lambda: Claims(here.redis, prefix="licmon:claim"))


def dead_letters() -> DeadLetters:
    here = resources()
    return here.view(DeadLetters, lambda: DeadLetters(here.redis))


def pending() -> PendingChecks:
    here = resources()
    return here.view(PendingChecks, lambda: PendingChecks(here.redis))


def fleet() -> FleetState:
    here = resources()
    return here.view(FleetState, lambda: FleetState(here.redis))


def alert_history() -> AlertHistory:
    here = resources()
    return here.view(AlertHistory, lambda: AlertHistory(here.redis))
