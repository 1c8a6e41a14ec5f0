"""InfluxDB 2.x (org + bucket) and 3.x (database as bucket): `POST /api/v2/write`.

One documented call, made with requests through `licmon.bounded_http` like every other: an
overall deadline and a few KB of answer read at most. influxdb-client is not used for it:
it reads any answer whole (`preload_content`), its "total" timeout restarts with every
read, and a token it cannot send ended in an exception quoting the token. The line protocol
is ours already (`line_protocol`, checked against influxdb-client's `Point` in the tests).
"""

from __future__ import annotations

from collections.abc import Sequence

import requests

from licmon.bounded_http import Answer, bounded_session
from licmon.core.notices import InfluxPoint
from licmon.core.text import printable
from licmon.senders._http import bounded_call
from licmon.senders.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    is_transient_http_status,
)
from licmon.senders.influxdb import DESTINATION, InfluxSettings, _server_name, lines_of


class V2Writer:
    """InfluxDB 2.x (org + bucket) and 3.x (database as bucket) through the 2.x write API."""

    def __init__(self, settings: InfluxSettings) -> None:
        self._settings = settings
        if settings.version == 2:
            bucket, org = settings.bucket, settings.org
            if not bucket or not org:
                raise PermanentDeliveryError(
                    DESTINATION, _server_name(settings.url), "InfluxDB 2 needs an org and a bucket"
                )
        else:
            # 3.x ignores the org; its 2.x-compatible endpoint takes the database as bucket.
            bucket, org = settings.database, settings.org or ""
        self._target = f"{_server_name(settings.url)} bucket={bucket}"
        self._url = settings.url.rstrip("/") + "/api/v2/write"
        self._params = {"bucket": bucket, "precision": "s"} | ({"org": org} if org else {})
        self._session = bounded_session(requests.Session())
        self._session.headers.update(
            {"Content-Type": "text/plain; charset=utf-8", "Accept": "application/json"}
        )
        if settings.token is not None:
            self._session.headers["Authorization"] = f"Token {settings.token.get_secret_value()}"

    def close(self) -> None:
        self._session.close()

    def write_points(self, points: Sequence[InfluxPoint]) -> None:
        answer = bounded_call(
            self._session,
            "POST",
            self._url,
            params=self._params,
            data=lines_of(points, self._target).encode(),
            timeout=self._settings.timeout,
            destination=DESTINATION,
            target=self._target,
            what="write: ",
            unencodable="a token",
        )
        if answer.status >= 300:
            raise self._error_for(answer)

    def _error_for(self, answer: Answer) -> DeliveryError:
        # 2.x answers {"code": ..., "message": ...}; anything else is shown as it came.
        message = ""
        try:
            document = answer.json()
            if isinstance(document, dict):
                message = str(document.get("message") or "")
        except ValueError:
            pass
        message = printable(message or answer.text or answer.reason, 300)
        text = f"write: HTTP {answer.status}: {message}"
        if is_transient_http_status(answer.status):
            return TransientDeliveryError(DESTINATION, self._target, text)
        return PermanentDeliveryError(DESTINATION, self._target, text)
