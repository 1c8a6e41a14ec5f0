"""InfluxDB writers: 1.x (`/write`, `/query`) and 2.x/3.x (`/api/v2/write`, in
`influxdb_v2`), over HTTP with requests, bounded like every call (`licmon.bounded_http`).

Points carry the check's tick as their timestamp at second precision, so a redelivered write
overwrites the same point instead of adding a second one.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol

import requests

from licmon.bounded_http import Answer, bounded_session
from licmon.core.notices import InfluxPoint
from licmon.core.text import printable
from licmon.senders._http import bounded_call, redact_url
from licmon.senders.errors import (
    PermanentDeliveryError,
    TransientDeliveryError,
    is_transient_http_status,
)
from licmon.senders.line_protocol import FieldValue, encode_line
from licmon.senders.settings import InfluxSettings

__all__ = [
    "FieldValue",
    "InfluxSettings",
    "InfluxWriter",
    "build_line",
    "make_influx_writer",
    "write_point",
]

log = logging.getLogger(__name__)

DESTINATION = "influxdb"
# InfluxQL duration literal (or INF); the value is pasted into a statement, so it is checked.
_DURATION = re.compile(r"^(?:INF|(?:\d+(?:ns|u|µ|ms|s|m|h|d|w))+)$", re.IGNORECASE)


class InfluxWriter(Protocol):
    def write_points(self, points: Sequence[InfluxPoint]) -> None:
        """Every point in one request (points of one check are written together)."""
        ...

    def close(self) -> None: ...


def write_point(
    writer: InfluxWriter,
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    timestamp: dt.datetime,
) -> None:
    """One point, in a request of its own."""
    writer.write_points([InfluxPoint(measurement, dict(tags), dict(fields), timestamp)])


def make_influx_writer(settings: InfluxSettings) -> InfluxWriter:
    """A writer for `settings.version` (1, 2 or 3). Creating it does no I/O."""
    if settings.version == 1:
        return _V1Writer(settings)
    if settings.version in (2, 3):
        from licmon.senders.influxdb_v2 import V2Writer

        return V2Writer(settings)
    raise PermanentDeliveryError(
        DESTINATION, _server_name(settings.url), f"unsupported InfluxDB version {settings.version}"
    )


def _server_name(url: str) -> str:
    return redact_url(url).removesuffix("/…")


def build_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    timestamp: dt.datetime,
) -> str:
    """One line of line protocol at second precision; empty when no field has a value."""
    return encode_line(measurement, tags, fields, timestamp)


def lines_of(points: Sequence[InfluxPoint], target: str) -> str:
    """The points as line protocol, one line each; a point without any field is refused."""
    lines = [build_line(p.measurement, p.tags, p.fields, p.timestamp) for p in points]
    if not lines or not all(lines):
        raise PermanentDeliveryError(DESTINATION, target, "no field has a value")
    return "\n".join(lines)


def _quote_identifier(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _error_text(answer: Answer) -> str:
    """InfluxDB's own words for a failure, printable and short: it is logged and shown."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return printable(str(body["error"]), 300)
    header = answer.headers.get("X-Influxdb-Error")
    return printable(header or answer.text or answer.reason, 300)


class _V1Writer:
    """InfluxDB 1.x: `/write` with basic auth; creates the database and policy like Butler.

    They are created when a write finds them missing, not before every process's first
    write: across a deployment that happens once, on the very first point.
    """

    def __init__(self, settings: InfluxSettings) -> None:
        self._settings = settings
        self._base = settings.url.rstrip("/")
        self._target = f"{_server_name(settings.url)} db={settings.database}"
        self._session = self._new_session()
        self._prepare_lock = threading.Lock()

    def _new_session(self) -> requests.Session:
        session = bounded_session(requests.Session())
        if self._settings.username:
            password = self._settings.password
            session.auth = (
                self._settings.username,
                password.get_secret_value() if password else "",
            )
        return session

    def close(self) -> None:
        self._session.close()

    def write_points(self, points: Sequence[InfluxPoint]) -> None:
        line = lines_of(points, self._target)
        response = self._post_write(line)
        if self._missing_container(response):
            # First write of a deployment, or someone dropped the database (or our policy).
            log.info(
                "InfluxDB %s: %s; creating it and writing again",
                self._target,
                _error_text(response),
            )
            with self._prepare_lock:
                self._prepare()
            response = self._post_write(line)
        self._raise_for(response, "write")

    # -- HTTP --------------------------------------------------------------------------------

    def _request(self, path: str, params: dict[str, str], data: bytes | None) -> Answer:
        return bounded_call(
            self._session,
            "POST",
            f"{self._base}{path}",
            params=params,
            data=data,
            timeout=self._settings.timeout,
            destination=DESTINATION,
            target=self._target,
            unencodable="credentials",
        )

    def _post_write(self, line: str) -> Answer:
        params = {"db": self._settings.database, "precision": "s"}
        if self._settings.retention_policy:
            params["rp"] = self._settings.retention_policy
        return self._request("/write", params, line.encode())

    def _missing_container(self, response: Answer) -> bool:
        if response.status < 400:
            return False
        text = _error_text(response)
        if text.startswith("database not found"):
            return True
        return text.startswith("retention policy not found") and self._manages_policy()

    def _raise_for(self, response: Answer, what: str) -> None:
        status = response.status
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
        if response.status == 401:
            self._raise_for(response, "authentication")
        if response.status >= 500:
            self._raise_for(response, "query")
        if response.status >= 300:
            return _error_text(response)
        try:
            document = response.json()
            results = document.get("results", []) if isinstance(document, dict) else None
        except ValueError:
            results = None
        if not isinstance(results, list):
            return "unreadable answer to a query"
        errors = [r["error"] for r in results if isinstance(r, dict) and r.get("error")]
        return printable("; ".join(str(error) for error in errors), 300) or None

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
