"""Each site's last check, for `licmon status`: one small hash per site and check kind.

`licmon:fleet:<kind>:<site>` holds eight fields, overwritten by every check, so the state
never grows with time: `status` (the status JSON, as `licmon check --json` prints it),
`checkId`, `lastChecked`, `lastSuccess`, `consecutiveFailures`, `errorKind`, `errorReason`,
and `successStatus`, the status of the last successful check, which a failed check leaves
in place (the exporter keeps showing the license's expiry while its QRS does not answer).
Written by the fetch task: on success (the QRS answered and the answer was judged) and in
`on_failure` (the check gave up). Reasons are the QRS error's one line, as in dead letters:
never a secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

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


class FleetState:
    def __init__(self, client: redis.Redis, prefix: str = FLEET_PREFIX) -> None:
        self._redis = client
        self._prefix = prefix

    def key(self, kind: str, site: str) -> str:
        return f"{self._prefix}:{kind}:{site}"

    def succeeded(
        self, kind: str, site: str, status: dict[str, Any], check_id: str, at: datetime
    ) -> None:
        key = self.key(kind, site)
        with self._redis.pipeline() as pipe:
            pipe.hset(
                key,
                mapping={
                    "status": json.dumps(status),
                    "successStatus": json.dumps(status),
                    "checkId": check_id,
                    "lastChecked": iso(at),
                    "lastSuccess": iso(at),
                    "consecutiveFailures": 0,
                },
            )
            pipe.hdel(key, "errorKind", "errorReason")
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
            return int(pipe.execute()[1])

    def read(self, kind: str, sites: list[str]) -> dict[str, SiteState | None]:
        """Every site's state (None: never checked), in one round trip."""
        with self._redis.pipeline(transaction=False) as pipe:
            for site in sites:
                pipe.hgetall(self.key(kind, site))
            found = pipe.execute()
        return {site: _state(fields) for site, fields in zip(sites, found, strict=True)}


def _state(fields: dict[bytes, bytes]) -> SiteState | None:
    if not fields:
        return None
    values = {key.decode(): value.decode() for key, value in fields.items()}
    status = values.get("status")
    success = values.get("successStatus")
    return SiteState(
        status=json.loads(status) if status else None,
        check_id=values.get("checkId"),
        last_checked=_instant(values.get("lastChecked")),
        last_success=_instant(values.get("lastSuccess")),
        consecutive_failures=int(values.get("consecutiveFailures", 0)),
        error_kind=values.get("errorKind"),
        error_reason=values.get("errorReason"),
        success_status=json.loads(success) if success else None,
    )
