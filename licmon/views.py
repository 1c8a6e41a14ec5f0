"""What every kind's views share: tables, ages, staleness, the exit-code rule, and the
fleet's beat and queues. Kinds build their CLI, status and digest edges from these; the CLI
prints what a kind returns (`Report`) and knows no kind.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

    from licmon.config.model import MonitorConfig
    from licmon.laterjs import LaterSchedule
    from licmon.plugin_output import Perf
    from licmon.state.fleet import SiteState

# Monitoring-plugin exit codes (Nagios, Icinga): the scheduler trusts nothing else.
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3
_EXIT_BY_LEVEL = {"ok": EXIT_OK, "warning": EXIT_WARNING, "expired": EXIT_CRITICAL}
# With several sites the most severe wins, in this order: an expired license matters more
# than a site that could not be reached.
_SEVERITY = (EXIT_CRITICAL, EXIT_WARNING, EXIT_UNKNOWN, EXIT_OK)
# The second check after the last success gets this long (or one period, if shorter) to
# finish before the site counts as stale: a QRS call and its quick retries fit in it.
STALE_GRACE = timedelta(minutes=1)


@dataclass(frozen=True)
class Report:
    """What `licmon check` or `licmon status` prints for one kind, and its exit code.

    Without --json the CLI prints the monitoring-plugin line first, `<WORD> <STATE> -
    <summary> | <perfdata>` (the kind's `plugin_word`, licmon/plugin_output.py), then the
    table as long output."""

    document: Any  # printed as JSON with --json
    table: str  # printed otherwise, after the plugin line
    exit_code: int
    # One line naming the worst sites first (`plugin_output.summary`); "" lets the CLI say
    # how many sites it read.
    summary: str = ""
    perfdata: tuple[Perf, ...] = ()


@dataclass(frozen=True)
class Limits:
    """`-w` / `-c` for one run: None keeps the configuration's threshold. Each kind says
    what its numbers are (days left, seats available) and applies them "at or below"."""

    warning: int | None = None
    critical: int | None = None


NO_LIMITS = Limits()


def exit_code_of(levels: Iterable[str]) -> int:
    """The most severe of `levels` (`ok`, `warning`, `expired`; anything else is 3)."""
    codes = {_EXIT_BY_LEVEL.get(level, EXIT_UNKNOWN) for level in levels}
    return next((code for code in _SEVERITY if code in codes), EXIT_OK)


def worst(codes: Iterable[int]) -> int:
    """The most severe exit code, in `exit_code_of`'s order (2, 1, 3, 0)."""
    found = set(codes)
    return next((code for code in _SEVERITY if code in found), EXIT_OK)


def days_code(days: int | None, warning: int, limits: Limits, *, expired: bool) -> int:
    """A days-left verdict under `-w`/`-c`: critical once `expired` (whatever -c says) or at
    or below `-c`; warning at or below `-w`, else at or below `warning` (the configured
    threshold or highest level); ok otherwise, and for no end date (`days` None)."""
    if expired:
        return EXIT_CRITICAL
    if days is None:
        return EXIT_OK
    if limits.critical is not None and days <= limits.critical:
        return EXIT_CRITICAL
    if limits.warning is not None:
        warning = limits.warning
    return EXIT_WARNING if days <= warning else EXIT_OK


def days_perf(label: str, days: int | None, warning: int, limits: Limits) -> Perf:
    """Days left as perfdata, its ranges reproducing `days_code` (but for an end the source
    declares passed while days remain: QRS's `isExpired`, a tenant not `Ok`): warning `W+1:`
    (W or fewer days), critical `C+1:` under -c, else `0:` (below 0: the end has passed)."""
    from licmon.plugin_output import Perf, at_or_below

    warn = limits.warning if limits.warning is not None else warning
    crit = limits.critical if limits.critical is not None else -1
    return Perf(label, days, warn=at_or_below(warn), crit=at_or_below(crit))


def aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Table rows as text lines: every column padded to its widest cell but the last, which
    may be long (a detail, an error's reason)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def iso_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def age_text(moment: str | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = max(
        0, int((now - datetime.fromisoformat(moment.replace("Z", "+00:00"))).total_seconds())
    )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


@functools.cache
def _schedule(frequency: str) -> LaterSchedule:
    from licmon.laterjs import parse_text

    return parse_text(frequency)


def stale_at(frequency: str, last_success: datetime) -> datetime | None:
    """When a site last checked successfully at `last_success` becomes stale (None: its
    schedule does not fire twice more, so it never does)."""
    from licmon.laterjs import next_fire_time

    schedule = _schedule(frequency)
    first = next_fire_time(schedule, last_success)
    second = None if first is None else next_fire_time(schedule, first)
    if first is None or second is None:
        return None
    return second + min(second - first, STALE_GRACE)


def is_stale(frequency: str, state: SiteState, now: datetime) -> bool:
    if state.last_success is None:
        return False  # never succeeded: its failures say `unknown`
    stale = stale_at(frequency, state.last_success)
    return stale is not None and now > stale


def period_seconds(frequency: str, now: datetime) -> float | None:
    """The current period of a schedule: from its next fire time to the one after."""
    from licmon.laterjs import next_fire_time

    first = next_fire_time(_schedule(frequency), now)
    second = None if first is None else next_fire_time(_schedule(frequency), first)
    return None if first is None or second is None else (second - first).total_seconds()


def check_state(state: SiteState | None) -> dict[str, Any]:
    """How a site's last checks of one kind went, for a status view."""
    error = None
    if state is not None and state.error_kind is not None:
        error = {"kind": state.error_kind, "reason": state.error_reason}
    return {
        "lastChecked": iso_text(state.last_checked if state else None),
        "lastSuccess": iso_text(state.last_success if state else None),
        "consecutiveFailures": state.consecutive_failures if state else 0,
        "lastError": error,
    }


def error_text(view: dict[str, Any]) -> str:
    error = view.get("lastError")
    return "-" if not error else f"{error['kind']}: {error['reason']}"


def fleet_overview(client: redis.Redis, config: MonitorConfig) -> dict[str, Any]:
    """The beat leader and the fetch queues (and which sites wait in them)."""
    from licmon.state.lease import Lease
    from licmon.state.queues import fetch_queue, lengths, queued_sites

    names = sorted({fetch_queue(None)} | {fetch_queue(site.zone) for site in config.sites})
    holder = Lease(client, config.beat.lease_seconds).holder()
    return {
        "waiting": {name: queued_sites(client, name) for name in names},
        "beat": {
            "leader": None if holder is None else {"host": holder.host, "pid": holder.pid},
            "leaseAgeSeconds": None if holder is None else holder.age_seconds,
        },
        "queues": lengths(client, names),
    }


def overview_lines(view: dict[str, Any]) -> list[str]:
    leader, age = view["beat"]["leader"], view["beat"]["leaseAgeSeconds"]
    if leader is None:
        lines = ["\nbeat: no leader (no beat holds the lease)"]
    else:
        lines = [
            f"\nbeat: leader {leader['host']} pid {leader['pid']}, lease renewed {age:.1f}s ago"
        ]
    return lines + [f"queue {name}: {length}" for name, length in view["queues"].items()]
