"""Our keys for running across sites: a site's zone, and the beats' lease.

Kept apart from `fields.py` and `schema.py` so that the fleet's keys read as one piece:
`licmon.sites[].zone` and `licmon.beat.leaseSeconds`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from licmon.config.sections import Section

# A zone names a Celery queue (`license.fetch.<zone>`) and a worker's -Q argument: no
# characters a shell, Redis key or queue name would treat specially. A comma is out too:
# `-Q a,b` lists two queues.
ZONE_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}"
ZONE_RULE = "a zone name of letters, digits, '.', '_' or '-' (at most 63)"
# The lease's bounds. Below 3 s a busy beat (500 entries due at once) may miss a renewal;
# above 300 s a dead leader's sites wait five minutes for a successor.
LEASE_MIN, LEASE_MAX = 3.0, 300.0
DEFAULT_LEASE_SECONDS = 15.0


def _expected(what: str) -> PydanticCustomError:
    return PydanticCustomError("expected", "expected {what}", {"what": what})


def is_zone(text: str) -> bool:
    return re.fullmatch(ZONE_PATTERN, text) is not None


def _zone(value: Any) -> str:
    # YAML reads `zone: 42` as a number; as a name it is still the text "42".
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _expected(ZONE_RULE)
    text = str(value).strip()
    if not is_zone(text):
        raise _expected(ZONE_RULE)
    return text


def _lease_seconds(value: Any) -> float:
    what = f"a number of seconds from {LEASE_MIN:g} to {LEASE_MAX:g}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _expected(what)
    try:
        seconds = float(value)
    except ValueError:
        raise _expected(what) from None
    if not LEASE_MIN <= seconds <= LEASE_MAX:
        raise _expected(what)
    return seconds


ZoneName = Annotated[str, BeforeValidator(_zone)]
LeaseSeconds = Annotated[float, BeforeValidator(_lease_seconds)]


class BeatSection(Section):
    """`licmon.beat`: how the beats share one schedule."""

    # The leader renews every third of it; a standby takes over within about 4/3 of it
    # after the leader dies (20 s by default).
    leaseSeconds: LeaseSeconds = DEFAULT_LEASE_SECONDS
