"""InfluxDB writers: 1.x over its HTTP API with requests, 2.x and 3.x with influxdb-client.

Line protocol always comes from influxdb-client's `Point`, never from hand-made escaping.
Points carry the check's tick as their timestamp at second precision, so a redelivered
write overwrites the same point instead of adding a second one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from typing import Protocol

import requests
import urllib3
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.write_api import SYNCHRONOUS

from licmon.config.model import InfluxSettings
from licmon.senders._http import describe_request_exception, redact_url
from licmon.senders.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    is_transient_http_status,
)

__all__ = ["FieldValue", "InfluxWriter", "build_line", "make_influx_writer"]

log = logging.getLogger(__name__)

DESTINATION = "influxdb"
FieldValue = bool | int | float | str
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# InfluxQL duration literal (or INF); the value is pasted into a statement, so it is checked.
_DURATION = re.compile(r"^(?:INF|(?:\d+(?:ns|u|µ|ms|s|m|h|d|w))+)$", re.IGNORECASE)


class InfluxWriter(Protocol):
    def write(
        self,
        measurement: str,
        tags: Mapping[str, str],
        fields: Mapping[str, FieldValue | None],
        timestamp: dt.datetime,
    ) -> None: ...

    def close(self) -> None: ...


def make_influx_writer(settings: InfluxSettings) -> InfluxWriter:
    """A writer for `settings.version` (1, 2 or 3). Creating it does no I/O."""
    if settings.version == 1:
        return _V1Writer(settings)
    if settings.version in (2, 3):
        return _V2Writer(settings)
    raise PermanentDeliveryError(
        DESTINATION, _server_name(settings.url), f"unsupported InfluxDB version {settings.version}"
    )


def _server_name(url: str) -> str:
    return redact_url(url).removesuffix("/…")


def _epoch_seconds(timestamp: dt.datetime) -> int:
    # A naive timestamp is taken as UTC: ticks are scheduled in UTC.
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=dt.UTC)
    # Integer arithmetic: going through float nanoseconds can land one second early.
    return (timestamp - _EPOCH) // dt.timedelta(seconds=1)


def build_point(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    timestamp: dt.datetime,
) -> Point:
    point = Point(measurement)
    for name, value in tags.items():
        point.tag(name, value)
    for name, value in fields.items():
        # None (a perpetual license has no days left) is left out, never written as a
        # bare `null` that InfluxDB rejects (Butler defect 11).
        if value is not None:
            point.field(name, value)
    return point.time(_epoch_seconds(timestamp), WritePrecision.S)


def build_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    timestamp: dt.datetime,
) -> str:
    """One line of line protocol at second precision; empty when no field has a value."""
    return build_point(measurement, tags, fields, timestamp).to_line_protocol()


def _quote_identifier(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    header = response.headers.get("X-Influxdb-Error")
    return header or response.text.strip()[:300] or (response.reason or "")


class _V1Writer:
    """InfluxDB 1.x: `/write` with basic auth; creates the database and policy like Butler."""

    def __init__(self, settings: InfluxSettings) -> None:
        self._settings = settings
        self._base = settings.url.rstrip("/")
        self._target = f"{_server_name(settings.url)} db={settings.database}"
        self._pid = os.getpid()
        self._session = self._new_session()
        self._prepared = False
        self._prepare_lock = threading.Lock()
        self._inherited: list[requests.Session] = []

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        if self._settings.username:
            password = self._settings.password
            session.auth = (
                self._settings.username,
                password.get_secret_value() if password else "",
            )
        return session

    def _http(self) -> requests.Session:
        # A writer cached in a Celery prefork parent reaches its children by fork; their
        # pooled keep-alive sockets would then be shared by two processes.
        if self._pid != os.getpid():
            self._inherited.append(self._session)  # the parent's sockets: left untouched
            self._session = self._new_session()
            self._prepare_lock = threading.Lock()
            self._pid = os.getpid()
        return self._session

    def close(self) -> None:
        if self._pid == os.getpid():
            self._session.close()

    def write(
        self,
        measurement: str,
        tags: Mapping[str, str],
        fields: Mapping[str, FieldValue | None],
        timestamp: dt.datetime,
    ) -> None:
        line = build_line(measurement, tags, fields, timestamp)
        if not line:
            raise PermanentDeliveryError(DESTINATION, self._target, "no field has a value")
        self._http()
        with self._prepare_lock:
            if not self._prepared:
                self._prepare()
        response = self._post_write(line)
        if self._missing_container(response):
            # Someone dropped the database (or the policy we manage) since we prepared it.
            log.warning(
                "InfluxDB %s: %s; re-creating and writing again",
                self._target,
                _error_text(response),
            )
            with self._prepare_lock:
                self._prepare()
            response = self._post_write(line)
        self._raise_for(response, "write")

    # -- HTTP --------------------------------------------------------------------------------

    def _request(self, path: str, params: dict[str, str], data: bytes | None) -> requests.Response:
        try:
            return self._http().post(
                f"{self._base}{path}", params=params, data=data, timeout=self._settings.timeout
            )
        except requests.RequestException as exc:
            transient, reason = describe_request_exception(exc, self._settings.timeout)
            error_type = TransientDeliveryError if transient else PermanentDeliveryError
            raise error_type(DESTINATION, self._target, reason) from None

    def _post_write(self, line: str) -> requests.Response:
        params = {"db": self._settings.database, "precision": "s"}
        if self._settings.retention_policy:
            params["rp"] = self._settings.retention_policy
        return self._request("/write", params, line.encode())

    def _missing_container(self, response: requests.Response) -> bool:
        if response.status_code < 400:
            return False
        text = _error_text(response)
        if text.startswith("database not found"):
            return True
        return text.startswith("retention policy not found") and self._manages_policy()

    def _raise_for(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        text = f"{what}: HTTP {status}: {_error_text(response)}"
        # InfluxDB answers 500 for a missing policy; no retry will create it.
        if is_transient_http_status(status) and "retention policy not found" not in text:
            raise TransientDeliveryError(DESTINATION, self._target, text)
        raise PermanentDeliveryError(DESTINATION, self._target, text)

    # -- database and retention policy ---------------------------------------------------------

    def _manages_policy(self) -> bool:
        settings = self._settings
        return bool(settings.retention_policy and settings.retention_duration)

    def _query(self, statement: str) -> str | None:
        """Run one InfluxQL statement; the error text, or None on success."""
        response = self._request("/query", {"q": statement}, None)
        if response.status_code == 401:
            self._raise_for(response, "authentication")
        if response.status_code >= 500:
            self._raise_for(response, "query")
        if response.status_code >= 300:
            return _error_text(response)
        try:
            results = response.json().get("results", [])
        except ValueError:
            return "unreadable answer to a query"
        errors = [r["error"] for r in results if isinstance(r, dict) and r.get("error")]
        return "; ".join(errors) or None

    def _prepare(self) -> None:
        """CREATE DATABASE and the DEFAULT retention policy, as Butler does at start.

        Both are idempotent in InfluxDB. Anything but an outage or bad credentials is logged
        and the write goes ahead: a database made by an administrator, or a policy that
        already exists with other settings, must not stop the data.
        """
        settings = self._settings
        database = _quote_identifier(settings.database)
        error = self._query(f"CREATE DATABASE {database}")
        if error:
            log.warning("InfluxDB %s: could not create the database: %s", self._target, error)
        policy, duration = settings.retention_policy, settings.retention_duration
        if policy and duration:
            if not _DURATION.match(duration):
                log.error(
                    "InfluxDB %s: retention policy duration %r is not an InfluxQL duration; "
                    "policy %r not created",
                    self._target,
                    duration,
                    policy,
                )
            else:
                error = self._query(
                    f"CREATE RETENTION POLICY {_quote_identifier(policy)} ON {database} "
                    f"DURATION {duration} REPLICATION 1 DEFAULT"
                )
                if error:
                    log.warning(
                        "InfluxDB %s: retention policy %r kept as it is (%s)",
                        self._target,
                        policy,
                        error,
                    )
        elif policy:
            log.info(
                "InfluxDB %s: no duration for retention policy %r; writing into it as it is",
                self._target,
                policy,
            )
        self._prepared = True


class _V2Writer:
    """InfluxDB 2.x (org + bucket) and 3.x (database as bucket) through influxdb-client."""

    def __init__(self, settings: InfluxSettings) -> None:
        self._settings = settings
        if settings.version == 2:
            bucket, org = settings.bucket, settings.org
            if not bucket or not org:
                raise PermanentDeliveryError(
                    DESTINATION, _server_name(settings.url), "InfluxDB 2 needs an org and a bucket"
                )
        else:
            # 3.x ignores the org, but the client refuses to send a write without one.
            bucket, org = settings.database, settings.org or ""
        self._bucket, self._org = bucket, org
        self._target = f"{_server_name(settings.url)} bucket={bucket}"
        self._inherited: list[InfluxDBClient] = []
        self._connect()

    def _connect(self) -> None:
        settings = self._settings
        token = settings.token.get_secret_value() if settings.token else ""
        self._pid = os.getpid()
        self._client = InfluxDBClient(
            url=settings.url,
            token=token,
            org=self._org,
            timeout=int(settings.timeout * 1000),
            retries=False,  # one attempt; the caller decides on retries
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def close(self) -> None:
        if self._pid == os.getpid():
            self._write_api.close()
            self._client.close()

    def write(
        self,
        measurement: str,
        tags: Mapping[str, str],
        fields: Mapping[str, FieldValue | None],
        timestamp: dt.datetime,
    ) -> None:
        point = build_point(measurement, tags, fields, timestamp)
        if not point.to_line_protocol():
            raise PermanentDeliveryError(DESTINATION, self._target, "no field has a value")
        if self._pid != os.getpid():
            # Inherited over a fork: the parent's connection pool is not ours to use or close.
            self._inherited.append(self._client)
            self._connect()
        try:
            self._write_api.write(
                bucket=self._bucket,
                org=self._org,
                record=point,
                write_precision=WritePrecision.S,
            )
        except InfluxDBError as exc:
            raise self._classify_api_error(exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._classify_transport_error(exc) from None

    def _classify_api_error(self, exc: InfluxDBError) -> DeliveryError:
        response = getattr(exc, "response", None)
        status = getattr(exc, "status", None) or getattr(response, "status", None)
        message = exc.message
        if isinstance(message, bytes):
            message = message.decode(errors="replace")
        # 2.x answers {"code": ..., "message": ...}; anything else is shown as it came.
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            message = json.loads(message).get("message", message)
        text = f"write: HTTP {status}: {message}" if status else f"write: {message}"
        if status is None or is_transient_http_status(int(status)):
            return TransientDeliveryError(DESTINATION, self._target, text)
        return PermanentDeliveryError(DESTINATION, self._target, text)

    def _classify_transport_error(self, exc: BaseException) -> DeliveryError:
        timeout = self._settings.timeout
        if isinstance(exc, urllib3.exceptions.SSLError):
            reason = exc.args[0] if exc.args else exc
            return PermanentDeliveryError(DESTINATION, self._target, f"TLS error: {reason}")
        if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
            text = f"connection not established within {timeout:g} s"
        elif isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            text = f"no answer within {timeout:g} s"
        elif isinstance(exc, urllib3.exceptions.NewConnectionError):
            text = "connection failed (refused or unreachable)"
        else:
            text = f"connection failed ({exc.__class__.__name__})"
        return TransientDeliveryError(DESTINATION, self._target, text)
