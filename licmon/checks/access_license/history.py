"""The access licenses' recent past, for the forecast: one reading a day per site and type.

`licmon:access:history:<site>:<type>` is a hash of UTC day (`2026-03-01`) -> `available`
that day (the day's latest reading wins). At most `KEEP_DAYS` days are kept: older days are
dropped on every write, and a key not written for that long expires, so a removed site or
type leaves nothing behind. Written by the access kind's fetch (`record`), read by the
forecast (`readings`, `forecasts`). Bounded whatever the schedule: 90 fields a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

import redis

from licmon.core.access_license import COUNTED_TYPES, AccessStatus
from licmon.core.forecast import exhausts_in_days

PREFIX = "licmon:access:history"
KEEP_DAYS = 90


def key(site: str, license_type: str) -> str:
    return f"{PREFIX}:{site}:{license_type}"


def _day(moment: datetime | date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def record(client: redis.Redis, site: str, status: AccessStatus, at: datetime) -> None:
    """Keep today's `available` of every counted type the status has; a failed check keeps
    nothing (it has no numbers)."""
    day = _day(at)
    oldest = day - timedelta(days=KEEP_DAYS - 1)
    with client.pipeline(transaction=True) as pipe:
        for license_type in COUNTED_TYPES:
            counts = status.available(license_type)
            if counts is None:
                continue
            name = key(site, license_type)
            # Read first, outside the transaction: only this site's fetch writes its keys.
            stale = [field for field in client.hkeys(name) if _too_old(field, oldest)]
            pipe.hset(name, day.isoformat(), repr(float(counts[0])))
            if stale:
                pipe.hdel(name, *stale)
            pipe.expire(name, KEEP_DAYS * 24 * 3600)
        pipe.execute()


def _too_old(field: bytes | str, oldest: date) -> bool:
    text = field.decode() if isinstance(field, bytes) else field
    try:
        return date.fromisoformat(text) < oldest
    except ValueError:  # not ours: dropped too
        return True


def readings(client: redis.Redis, site: str, license_type: str) -> list[tuple[date, float]]:
    """The kept readings, oldest first."""
    return _parsed(client.hgetall(key(site, license_type)))  # type: ignore[arg-type]


def _parsed(raw: Mapping[bytes, bytes]) -> list[tuple[date, float]]:
    found = []
    for field, value in raw.items():
        try:
            found.append((date.fromisoformat(field.decode()), float(value)))
        except ValueError:
            continue
    return sorted(found)


def forecasts_of(
    client: redis.Redis, sites: Iterable[str], types: Iterable[str] = COUNTED_TYPES
) -> dict[str, dict[str, float | None]]:
    """`exhaustsInDays` per site and type, every history read in one round trip (the
    exporter and `licmon status --access` ask for all sites at once)."""
    pairs = [(site, name) for site in sites for name in types]
    with client.pipeline(transaction=False) as pipe:
        for site, name in pairs:
            pipe.hgetall(key(site, name))
        found = pipe.execute()
    result: dict[str, dict[str, float | None]] = {}
    for (site, name), raw in zip(pairs, found, strict=True):
        result.setdefault(site, {})[name] = exhausts_in_days(_parsed(raw))
    return result


def forecasts(
    client: redis.Redis, site: str, types: Iterable[str] = COUNTED_TYPES
) -> dict[str, float | None]:
    """`exhaustsInDays` per type, from the kept readings."""
    return forecasts_of(client, [site], types).get(site, {})
