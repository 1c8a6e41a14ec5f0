"""What each destination receives of an access-license status.

InfluxDB: Butler's `qlik_sense_license` measurement, one point per enabled type, every
number a float field (Butler's client writes JavaScript numbers; an existing database has
float fields and refuses integers into them). MQTT (ours; Butler sends none): one JSON
document per site with the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from licmon.core.access_license import AccessStatus
from licmon.core.notices import InfluxPoint

INFLUX_MEASUREMENT = "qlik_sense_license"


def influx_points(
    status: AccessStatus, static_tags: Iterable[tuple[str, str]], timestamp: datetime
) -> list[InfluxPoint]:
    """One point per enabled type; none for a failed check (no numbers were read)."""
    base = dict(static_tags)
    base["site"] = status.site
    return [
        InfluxPoint(
            INFLUX_MEASUREMENT,
            base | {"license_type": license_type},
            {name: float(value) for name, value in values.items()},
            timestamp,
        )
        for license_type, values in status.licenses.items()
    ]


def licenses_document(status: AccessStatus) -> dict[str, Any]:
    """`site`, then per enabled type Butler's field names and values; `error` when failed."""
    document: dict[str, Any] = {"site": status.site}
    document |= {name: dict(values) for name, values in status.licenses.items()}
    if status.error is not None:
        document["error"] = status.error
    return document


def status_document(status: AccessStatus, check_id: str) -> dict[str, Any]:
    """The MQTT status JSON."""
    return licenses_document(status) | {"checkedAt": status.checkedAt, "checkId": check_id}
