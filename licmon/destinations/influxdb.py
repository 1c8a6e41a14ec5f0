"""InfluxDB: one point per check, timestamped with the check's tick so a redelivery
overwrites the same point instead of adding one."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import redis

from licmon.config.model import InfluxSettings, MonitorConfig
from licmon.core.payloads import influx_point
from licmon.core.status import LicenseStatus
from licmon.destinations.base import Delivery

if TYPE_CHECKING:
    from licmon.senders.influxdb import InfluxWriter

_writers: dict[InfluxSettings, InfluxWriter] = {}
_lock = threading.Lock()


def _writer(settings: InfluxSettings) -> InfluxWriter:
    # Imported here, as in every destination: beat lists destinations but never delivers,
    # and influxdb-client alone would add 12 MB to it.
    from licmon.senders.influxdb import make_influx_writer

    # One writer per process keeps the database preparation and HTTP connections warm.
    with _lock:
        if settings not in _writers:
            _writers[settings] = make_influx_writer(settings)
        return _writers[settings]


class InfluxDbDestination:
    name = "influxdb"

    def targets(self, config: MonitorConfig, status: LicenseStatus) -> list[str]:
        return ["influxdb"] if config.influx is not None else []

    def deliver(
        self, config: MonitorConfig, target: str, delivery: Delivery, redis_client: redis.Redis
    ) -> str:
        assert config.influx is not None, "targets() offers InfluxDB only when configured"
        tags = (*config.influx.tags, *delivery.site.tags)
        point = influx_point(delivery.status, tags, delivery.tick)
        _writer(config.influx).write(point.measurement, point.tags, point.fields, point.timestamp)
        return f"point {point.measurement} at {point.timestamp.isoformat()}"
