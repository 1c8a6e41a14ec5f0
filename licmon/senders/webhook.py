"""One outgoing webhook call: GET with query parameters, POST/PUT with a JSON body.

The URL is a secret (it often embeds a token): it is never logged or put into an error;
targets are named by `WebhookTarget.key`, description and `redact_url`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from licmon.bounded_http import bounded_session
from licmon.senders._http import bounded_call, location_host, redact_url
from licmon.senders.errors import (
    PermanentDeliveryError,
    TransientDeliveryError,
    is_transient_http_status,
)
from licmon.senders.settings import WebhookTarget

__all__ = ["ParamValue", "WebhookTarget", "redact_url", "send_webhook", "target_name"]

log = logging.getLogger(__name__)

DESTINATION = "webhook"
ParamValue = str | int | float | bool | None
_METHODS = frozenset({"GET", "POST", "PUT"})


def target_name(target: WebhookTarget) -> str:
    """What errors and logs call a webhook: safe to show, unique within a configuration."""
    label = f"{target.key}"
    if target.description:
        label += f" ({target.description})"
    return f"{label} {redact_url(target.url.get_secret_value())}"


def _query_value(value: str | int | float | bool) -> str:
    # Rendered the way Butler's JavaScript does: `true`/`false`, and 30 not 30.0.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def _merge_query(url: str, params: Mapping[str, ParamValue]) -> str:
    """Add `params` to the URL's own query string (Butler replaced it: defect 8).

    A parameter of ours replaces one of the same name already in the URL, so the event data
    cannot be shadowed; None has no query form and is left out.
    """
    parts = urlsplit(url)
    ours = {k: _query_value(v) for k, v in params.items() if v is not None}
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
    query = urlencode([*kept, *ours.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _verify(target: WebhookTarget) -> bool | str:
    if not target.reject_unauthorized:
        return False
    if target.ca_file is not None:
        return str(target.ca_file)
    return True


def send_webhook(
    target: WebhookTarget,
    params: Mapping[str, ParamValue],
    headers: Mapping[str, str],
    session: requests.Session | None = None,
) -> None:
    """Call one webhook once. Raises TransientDeliveryError or PermanentDeliveryError."""
    name = target_name(target)
    method = target.method.strip().upper()
    if method not in _METHODS:
        raise PermanentDeliveryError(
            DESTINATION, name, f"unsupported HTTP method {target.method!r} (GET, POST or PUT)"
        )
    url = target.url.get_secret_value().strip()
    request_args: dict[str, object] = {"headers": dict(headers), "verify": _verify(target)}
    if method == "GET":
        url = _merge_query(url, params)
    else:
        request_args["json"] = dict(params)

    own_session = session is None
    http = bounded_session(requests.Session() if session is None else session)
    try:
        # Redirects are not followed: one to another host would carry our headers and body
        # there (a 302 to a cloud metadata address was followed, POST turned into GET).
        # Only the status matters; a few KB of the answer are read at most.
        answer = bounded_call(
            http,
            method,
            url,
            timeout=target.timeout,
            destination=DESTINATION,
            target=name,
            what=f"{method}: ",
            **request_args,
        )
    finally:
        if own_session:
            http.close()

    status = answer.status
    if 200 <= status < 300:
        log.debug("webhook %s answered %s to %s", name, status, method)
        return
    detail = f"{method}: HTTP {status} {answer.reason}".rstrip()
    if 300 <= status < 400:
        raise PermanentDeliveryError(
            DESTINATION,
            name,
            f"{detail}, a redirect to {location_host(answer.headers)}: not followed; "
            "configure the webhook's new address if it moved",
        )
    if is_transient_http_status(status):
        raise TransientDeliveryError(DESTINATION, name, detail)
    raise PermanentDeliveryError(DESTINATION, name, detail)
