"""Who is told what about one check: every destination's targets, and the alerts each
alert target is due, decided once per check against that target's history in Redis
(licmon/state/alert_history.py) with the kind's policy (`CheckKind.judge`).

A successful check goes to every status target; a failed one only to the destinations
that record every check (InfluxDB's check measurement). Alert targets get a delivery only
when the policy has something to say to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from licmon.checks.base import CheckKind
from licmon.config.model import MonitorConfig, Site
from licmon.core.alerts import CheckOutcome
from licmon.state.fleet import success_fields
from tasks.base import quickly
from tasks.fleet import succeeded
from worker import runtime


@dataclass(frozen=True)
class Planned:
    destination: str
    target: str
    # The alert messages decided for this target (Message.to_json()), none for most checks.
    alerts: list[dict[str, Any]] = field(default_factory=list)


def plan(
    kind: CheckKind,
    config: MonitorConfig,
    site: Site,
    status: Any,
    outcome: CheckOutcome,
    check_id: str,
    record: dict[str, Any] | None = None,
) -> list[Planned]:
    """Every delivery of this check, with the alerts decided for each alert target.

    `record`: a successful check's status, written for the fleet view in the same
    transaction as the alert histories (or on its own when no target gets alerts)."""
    routes: list[tuple[str, list[str], list[str]]] = []
    for destination in config.plugins.destinations:
        settings = config.settings(destination.name, kind.name)
        if settings is None:
            continue
        told = outcome.ok or destination.records_failed_checks
        routes.append(
            (
                destination.name,
                destination.status_targets(settings) if told else [],
                destination.alert_targets(settings),
            )
        )
    names = [f"{name}/{target}" for name, _, alerts in routes for target in alerts]
    judge = None
    if outcome.ok:
        redis = runtime.resources().redis
        memory = quickly(lambda: kind.remember(redis, status, outcome.checked_at), config.retry)
        judge = kind.judge(site, config, status, memory)
    written = None
    if record is not None and outcome.ok:
        written = success_fields(record, check_id, datetime.now(UTC))
    decided = {}
    if names:
        decided = quickly(
            lambda: runtime.alert_history().decide(
                kind.name,
                site.name,
                names,
                outcome,
                check_id,
                config.alerts.check_failures,
                judge,
                written,
            ),
            config.retry,
        )
    elif record is not None and outcome.ok:
        succeeded(kind, site.name, record, check_id)
    planned = []
    for name, status_targets, alert_targets in routes:
        for target in dict.fromkeys([*status_targets, *alert_targets]):
            messages = decided.get(f"{name}/{target}", [])
            if target in status_targets or messages:
                planned.append(Planned(name, target, [m.to_json() for m in messages]))
    return planned
