"""InfluxDB line protocol, encoded as influxdb-client's `Point` encodes it.

Why not `Point` itself: importing influxdb-client costs about 230 ms and 11 MB per process
(it pulls in reactivex), and InfluxDB 1.x needs nothing else from it. The rules below are the
client's own escaping tables; tests/test_line_protocol.py compares the two on hostile names.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

FieldValue = bool | int | float | str
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CONTROL = {"\n": r"\n", "\t": r"\t", "\r": r"\r"}
_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", **_CONTROL})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", **_CONTROL})
_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})


def epoch_seconds(timestamp: dt.datetime) -> int:
    # A naive timestamp is taken as UTC: ticks are scheduled in UTC.
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=dt.UTC)
    # Integer arithmetic: going through float nanoseconds can land one second early.
    return (timestamp - _EPOCH) // dt.timedelta(seconds=1)


def _tag_value(value: str) -> str:
    escaped = value.translate(_KEY)
    # A trailing backslash would escape the separator after it.
    return escaped + " " if escaped.endswith("\\") else escaped


def _field(name: str, value: FieldValue) -> str | None:
    key = name.translate(_KEY)
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    if isinstance(value, int):
        return f"{key}={value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = str(value)
        return f"{key}={text[:-2] if text.endswith('.0') else text}"
    return f'{key}="{value.translate(_STRING)}"'


def encode_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    timestamp: dt.datetime,
) -> str:
    """One line at second precision; empty when no field has a value.

    None fields are left out, never written as a bare `null` that InfluxDB rejects (Butler
    defect 11); so are empty tags, as the client does.
    """
    encoded = [
        text
        for name, value in sorted(fields.items())
        if value is not None and (text := _field(name, value)) is not None
    ]
    if not encoded:
        return ""
    tag_text = "".join(
        f",{name.translate(_KEY)}={_tag_value(value)}"
        for name, value in sorted(tags.items())
        if value and name
    )
    head = measurement.translate(_MEASUREMENT) + tag_text
    return f"{head} {','.join(encoded)} {epoch_seconds(timestamp)}"
