"""Each site's last check, for `licmon status`: one small hash per site and check kind.

`licmon:fleet:<kind>:<site>` holds eight fields, overwritten by every check, so the state
never grows with time (beside them, one `alert:<destination>/<target>` field per alert
target: licmon/state/alert_history.py): `status` (the status JSON, as `licmon check --json`
prints it), `checkId`, `lastChecked`, `lastSuccess`, `consecutiveFailures`, `errorKind`,
`errorReason`, and `successStatus`, the status of the last successful check, which a
failed check leaves in place (the exporter keeps showing the license's expiry while its QRS
does not answer).
Written by the fetch task: on success (the QRS answered and the answer was judged) and in
`on_failure` (the check gave up). Reasons are the QRS error's one line, as in dead letters:
never a secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from licmon.core.text import printable
from licmon.state.untrusted import malformed

FLEET_PREFIX = "licmon:fleet"
# A site's hash outlives any schedule (a yearly check refreshes it in time); a site
# removed from the config leaves it behind for this long at most.
FLEET_SECONDS = 400 * 24 * 3600


@dataclass(frozen=True)
class SiteState:
    status: dict[str, Any] | None
    check_id: str | None
    last_checked: datetime | None
    last_success: datetime | None
    consecutive_failures: int
    error_kind: str | None
    error_reason: str | None
    # The last successful check's status (None: never succeeded, or written before it existed).
    success_status: dict[str, Any] | None = None


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def success_fields(status: dict[str, Any], check_id: str, at: datetime) -> dict[str, str | int]:
    """A successful check's fields. The error fields are emptied, which reads as none,
    rather than deleted: one HSET writes the whole record."""
    text = json.dumps(status)
    return {
        "status": text,
        "successStatus": text,
        "checkId": check_id,
        "lastChecked": iso(at),
        "lastSuccess": iso(at),
        "consecutiveFailures": 0,
        "errorKind": "",
        "errorReason": "",
    }


class FleetState:
    def __init__(self, client: redis.Redis, prefix: str = FLEET_PREFIX) -> None:
        self._redis = client
        self._prefix = prefix

    def key(self, kind: str, site: str) -> str:
        return f"{self._prefix}:{kind}:{site}"

    def succeeded(
        self, kind: str, site: str, status: dict[str, Any], check_id: str, at: datetime
    ) -> None:
        """Records a successful check (when its alert targets' decision does not: see
        licmon/state/alert_history.py, which writes `success_fields` with the histories)."""
        key = self.key(kind, site)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=success_fields(status, check_id, at))
            pipe.expire(key, FLEET_SECONDS)
            pipe.execute()

    def failed(
        self,
        kind: str,
        site: str,
        status: dict[str, Any],
        check_id: str,
        at: datetime,
        error_kind: str,
        reason: str,
    ) -> int:
        """Records a failed check; returns the failed checks in a row, this one included."""
        key = self.key(kind, site)
        with self._redis.pipeline() as pipe:
            pipe.hset(
                key,
                mapping={
                    "status": json.dumps(status),
                    "checkId": check_id,
                    "lastChecked": iso(at),
                    "errorKind": error_kind,
                    "errorReason": reason,
                },
            )
            pipe.hincrby(key, "consecutiveFailures", 1)
            pipe.expire(key, FLEET_SECONDS)
            counted = pipe.execute(raise_on_error=False)[1]
        if isinstance(counted, redis.ResponseError):
            # The field held something HINCRBY cannot count (not ours): start again at 1.
            malformed(key, ["consecutiveFailures"])
            self._redis.hset(key, "consecutiveFailures", 1)
            return 1
        if isinstance(counted, Exception):
            raise counted
        return int(counted)

    def read(self, kind: str, sites: list[str]) -> dict[str, SiteState | None]:
        """Every site's state (None: never checked), in one round trip.

        What Redis holds is read as untrusted input (anyone with access to it can write
        anything): a field that does not parse is read as missing, and named once in the
        log (`malformed`), never raised; a key of another type reads as never checked."""
        with self._redis.pipeline(transaction=False) as pipe:
            for site in sites:
                pipe.hgetall(self.key(kind, site))
            # WRONGTYPE on one key is that key's problem, not the whole read's.
            found = pipe.execute(raise_on_error=False)
        states = {}
        for site, fields in zip(sites, found, strict=True):
            key = self.key(kind, site)
            if isinstance(fields, Exception):
                if isinstance(fields, redis.ConnectionError | redis.TimeoutError):
                    raise fields
                malformed(key, ["(not a hash)"])
                states[site] = None
                continue
            states[site] = _state(key, fields)
        return states


def _state(key: str, fields: dict[bytes, bytes]) -> SiteState | None:
    if not fields:
        return None
    values = {
        field.decode("utf-8", "replace"): value.decode("utf-8", "replace")
        for field, value in fields.items()
    }
    bad: list[str] = []

    def parsed(name: str, parse: Callable[[str], Any]) -> Any:
        text = values.get(name)
        if text is None or text == "":
            return None
        try:
            return parse(text)
        except (ValueError, TypeError, OverflowError, RecursionError):
            bad.append(name)
            return None

    failures = parsed("consecutiveFailures", _count)
    if "consecutiveFailures" in bad:
        # An unreadable count must not read as healthy: one failure, so the site shows as
        # failing until its next check overwrites the field.
        failures = 1
    state = SiteState(
        status=parsed("status", _object),
        check_id=parsed("checkId", _line),
        last_checked=parsed("lastChecked", _instant),
        last_success=parsed("lastSuccess", _instant),
        consecutive_failures=failures or 0,
        error_kind=parsed("errorKind", _line),
        error_reason=parsed("errorReason", _line),
        success_status=parsed("successStatus", _object),
    )
    if bad:
        malformed(key, bad)
    return state


def _count(text: str) -> int:
    # HINCRBY writes it: a decimal integer that fits in 64 bits, never negative here.
    if len(text) > 19 or not text.isascii() or not text.isdigit():
        raise ValueError(text)
    return int(text)


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    if len(text) > 40:
        raise ValueError("too long for an instant")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:  # compared with aware instants: a naive one would raise
        raise ValueError("no time zone")
    return moment


def _object(text: str) -> dict[str, Any]:
    # Statuses are a few kB; anything far larger is not one of ours.
    if len(text) > 1_000_000:
        raise ValueError("too long for a status")
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return _printable_strings(value)


def _printable_strings(value: Any) -> Any:
    """The status with every text one printable line: it reaches terminals, logs and
    messages, and Redis may hold escape codes written by anyone."""
    if isinstance(value, str):
        return printable(value, 1000)
    if isinstance(value, dict):
        return {printable(str(k), 200): _printable_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable_strings(item) for item in value]
    return value


def _line(text: str) -> str:
    return printable(text, 1000)
