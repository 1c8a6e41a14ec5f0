"""InfluxDB 2.x (org + bucket) and 3.x (database as bucket) through influxdb-client.

A module of its own so that only a process configured for 2.x/3.x imports influxdb-client.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Mapping

import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.write_api import SYNCHRONOUS

from licmon.senders.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    is_transient_http_status,
)
from licmon.senders.influxdb import DESTINATION, InfluxSettings, _server_name
from licmon.senders.line_protocol import FieldValue, encode_line


class V2Writer:
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
        token = settings.token.get_secret_value() if settings.token else ""
        self._client = InfluxDBClient(
            url=settings.url,
            token=token,
            org=self._org,
            timeout=int(settings.timeout * 1000),
            retries=False,  # one attempt; the caller decides on retries
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def close(self) -> None:
        self._write_api.close()
        self._client.close()

    def write(
        self,
        measurement: str,
        tags: Mapping[str, str],
        fields: Mapping[str, FieldValue | None],
        timestamp: dt.datetime,
    ) -> None:
        line = encode_line(measurement, tags, fields, timestamp)
        if not line:
            raise PermanentDeliveryError(DESTINATION, self._target, "no field has a value")
        try:
            self._write_api.write(
                bucket=self._bucket,
                org=self._org,
                record=line,
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
