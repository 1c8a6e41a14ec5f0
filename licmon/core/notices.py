"""What a check says, whatever its kind: points for InfluxDB and notices for people.

A check kind turns its status into these; destinations deliver them without knowing the
kind's fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class InfluxPoint:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, bool | float | str]
    timestamp: datetime


@dataclass(frozen=True)
class Notice:
    """One thing to tell: the routine status of a check, or an alert.

    `event`, `text` and `params` are Butler's where Butler has them (webhook event name,
    MQTT alert text, webhook parameters); `title` and `body` are for people reading chat.
    """

    alert: bool
    event: str
    text: str
    title: str
    body: str
    params: Mapping[str, Any]


def check_point(
    measurement: str,
    site: str,
    static_tags: tuple[tuple[str, str], ...],
    timestamp: datetime,
    ok: bool,
    error_kind: str,
    duration_ms: float,
) -> InfluxPoint:
    """One point per check, failed or not, beside (never inside) Butler's measurement:
    `ok`, `error_kind` ("" when ok) and how long the QRS took."""
    tags = dict(static_tags)
    tags["site"] = site
    fields: dict[str, bool | float | str] = {
        "ok": ok,
        "error_kind": error_kind,
        "duration_ms": float(duration_ms),
    }
    return InfluxPoint(measurement, tags, fields, timestamp)
