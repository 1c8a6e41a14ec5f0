"""InfluxDB: one point per check, timestamped with the check's tick so a redelivery
overwrites the same point instead of adding one.

Butler keys: `Butler.influxDb` (connection, version, global tags) and the feature switch
`...destination.influxDb.{enable, tag.static[]}`.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import SecretStr

from licmon.config.build import Build
from licmon.config.env import EnvOverlay
from licmon.config.fields import CleanText, InfluxVersion, Milliseconds, Port, Secret, Switch, Text
from licmon.config.sections import Section, StaticList, merge_tags
from licmon.core.notices import check_point
from licmon.destinations.base import Delivery, DestinationSchema, Part, deliver_each_once
from licmon.resources import Resources
from licmon.senders.settings import InfluxSettings


class InfluxAuth(Section):
    enable: Switch = False
    username: CleanText = ""
    password: Secret = SecretStr("")


class RetentionPolicy(Section):
    name: Text = ""
    duration: Text = ""


class InfluxV1(Section):
    auth: InfluxAuth | None = None
    dbName: Text | None = None
    retentionPolicy: RetentionPolicy | None = None


class InfluxV2(Section):
    org: Text = ""
    bucket: Text = ""
    token: Secret = SecretStr("")


class InfluxV3(Section):
    database: Text = ""
    token: Secret = SecretStr("")
    writeTimeout: Milliseconds | None = None  # milliseconds, as Butler


class InfluxDb(Section):
    """`Butler.influxDb`."""

    enable: Switch = False
    hostIP: Text | None = None
    hostPort: Port = 8086
    version: InfluxVersion = 1
    v1Config: InfluxV1 = InfluxV1()
    v2Config: InfluxV2 = InfluxV2()
    v3Config: InfluxV3 = InfluxV3()
    # Butler's legacy flat 1.x keys, used when v1Config leaves them out.
    auth: InfluxAuth = InfluxAuth()
    dbName: Text = "butler"
    retentionPolicy: RetentionPolicy = RetentionPolicy()
    tag: StaticList = StaticList()


class InfluxFeature(Section):
    """`...destination.influxDb` of a monitor."""

    enable: Switch = False
    tag: StaticList = StaticList()


class InfluxDbDestination:
    name = "influxdb"
    schema = DestinationSchema(
        butler={"influxDb": InfluxDb},
        feature=("influxDb", InfluxFeature),
        timeout=("influxDb", 10.0),
    )

    def env_secrets(self, overlay: EnvOverlay) -> None:
        # 1.x credentials go into whichever auth block is in effect (v1Config's, else the
        # legacy flat one), and switch it on: a credential given is a credential meant.
        v1 = ("Butler", "influxDb", "v1Config")
        auth = (
            (*v1, "auth")
            if isinstance(overlay.get(*v1, "auth"), dict)
            else ("Butler", "influxDb", "auth")
        )
        for variable, key in (
            ("LICMON_INFLUXDB_USERNAME", "username"),
            ("LICMON_INFLUXDB_PASSWORD", "password"),
        ):
            if overlay.put(variable, *auth, key):
                overlay.set(True, *auth, "enable")
        overlay.put("LICMON_INFLUXDB_TOKEN", "Butler", "influxDb", "v2Config", "token")
        overlay.put("LICMON_INFLUXDB_TOKEN", "Butler", "influxDb", "v3Config", "token")

    def settings(self, document: Any, build: Build) -> InfluxSettings | None:
        influx = document.Butler.influxDb
        feature = build.switched_on(
            "influxDb", "Butler.influxDb", influx.enable, "nothing is written to InfluxDB"
        )
        if feature is None:
            return None
        if not influx.hostIP:
            # Go on: the version's own settings may be missing too, and all is reported at once.
            build.problem("Butler.influxDb.hostIP", "required when InfluxDB is enabled")
        else:
            build.host("Butler.influxDb.hostIP", influx.hostIP)
        common: dict[str, Any] = {
            "version": influx.version,
            "url": f"http://{influx.hostIP}:{influx.hostPort}",
            "tags": merge_tags(influx.tag.static, feature.tag.static),
            "timeout": build.timeout("influxDb"),
        }
        if influx.version == 1:
            settings = self._v1(influx, common)
        elif influx.version == 2:
            v2 = influx.v2Config
            token = _secret(v2.token)
            _require(build, "v2Config", {"org": v2.org, "bucket": v2.bucket, "token": token})
            settings = InfluxSettings(**common, org=v2.org, bucket=v2.bucket, token=token)
        else:
            v3 = influx.v3Config
            token = _secret(v3.token)
            _require(build, "v3Config", {"database": v3.database, "token": token})
            if v3.writeTimeout:
                common["timeout"] = v3.writeTimeout / 1000
            settings = InfluxSettings(**common, org="", bucket=v3.database, token=token)
        if (settings.password or settings.token) and not _plain_http_expected(influx.hostIP):
            # Butler's InfluxDB settings have no TLS switch: the URL is always http://.
            build.warn(
                f"InfluxDB {settings.version}.x at {settings.url} is plain HTTP: its "
                f"{'token' if settings.token else 'password'} goes in clear on every write"
            )
        return settings

    def _v1(self, influx: InfluxDb, common: dict[str, Any]) -> InfluxSettings:
        v1 = influx.v1Config
        auth = v1.auth or influx.auth
        policy = v1.retentionPolicy or influx.retentionPolicy
        return InfluxSettings(
            **common,
            database=v1.dbName or influx.dbName,
            retention_policy=policy.name or None,
            retention_duration=policy.duration or None,
            username=(auth.username or None) if auth.enable else None,
            password=_secret(auth.password) if auth.enable else None,
        )

    # Every check is a point of the kind's check measurement, failed or not.
    records_failed_checks = True

    def status_targets(self, settings: InfluxSettings) -> list[str]:
        return ["influxdb"]

    def alert_targets(self, settings: InfluxSettings) -> list[str]:
        return []

    def parts(self, settings: InfluxSettings, target: str, delivery: Delivery) -> list[Part]:
        # One write of the check's points. Not remembered: a retry writes the same points
        # (measurement, tags, timestamp), which InfluxDB overwrites, not duplicates.
        return [Part("points", remember=False)]

    def send_one(
        self,
        settings: InfluxSettings,
        target: str,
        delivery: Delivery,
        part: Part,
        resources: Resources,
    ) -> str:
        from licmon.senders.influxdb import make_influx_writer

        writer = resources.get(("influxdb", settings), lambda: make_influx_writer(settings))
        tags = (*settings.tags, *delivery.site.tags)
        outcome = delivery.outcome
        # Butler's measurement only for a license read; the check's own point always.
        points = (
            delivery.kind.influx_points(delivery.status, tags, delivery.tick) if outcome.ok else []
        )
        points.append(
            check_point(
                delivery.kind.check_measurement,
                delivery.site.name,
                tags,
                delivery.tick,
                ok=outcome.ok,
                error_kind=outcome.error_kind,
                duration_ms=outcome.duration_ms,
            )
        )
        writer.write_points(points)
        return ", ".join(f"point {p.measurement} at {p.timestamp.isoformat()}" for p in points)

    def deliver(
        self, settings: InfluxSettings, target: str, delivery: Delivery, resources: Resources
    ) -> str:
        return deliver_each_once(self, settings, target, delivery, resources)


def _plain_http_expected(host: str | None) -> bool:
    """True for a host named in LICMON_INFLUXDB_PLAIN_HTTP_HOSTS (comma-separated): one whose
    plain HTTP the operator expects, such as docker-compose.yml's `influxdb` service on the
    compose network. Every other host keeps the plain-HTTP warning."""
    listed = os.environ.get("LICMON_INFLUXDB_PLAIN_HTTP_HOSTS", "")
    return bool(host) and host.lower() in {h.strip().lower() for h in listed.split(",")}


def _secret(value: SecretStr | None) -> SecretStr | None:
    return value if value is not None and value.get_secret_value() else None


def _require(build: Build, section: str, values: dict[str, object]) -> None:
    version = section[1]
    for key, value in values.items():
        if not value:
            hint = " (or set LICMON_INFLUXDB_TOKEN)" if key == "token" else ""
            build.problem(
                f"Butler.influxDb.{section}.{key}", f"required for InfluxDB {version}.x{hint}"
            )
