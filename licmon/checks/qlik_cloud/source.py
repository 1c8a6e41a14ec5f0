"""A Qlik Cloud tenant as a data source: `GET <url>/api/v1/licenses/overview` with the
tenant's API key as a bearer token, over HTTPS (the system's CAs, or `caFile` for a proxy
in between).

Every failure is a `CloudReadError` (the `SourceError` family) naming the tenant, never the
key or the URL's query: 401/403 say the key was refused (permanent: a person must make a new
one); 429 is waited out when its `Retry-After` fits in the check's deadline, and is
transient otherwise; 5xx, timeouts and refused connections are transient; an answer that is
no JSON object is permanent. The call and any wait share one deadline (`timeout` seconds for
the connection and as much for the answer, as for QRS sites), and at most 10 MB is read.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests

from licmon.bounded_http import AnswerTooLarge, bounded_request, bounded_session
from licmon.core.source import SourceError
from licmon.core.text import printable
from licmon.senders._http import describe_request_exception

if TYPE_CHECKING:
    from licmon.checks.qlik_cloud.kind import Tenant

OVERVIEW = "/api/v1/licenses/overview"
# A license overview is a few KB; anything this large is not one.
BODY_LIMIT = 10 * 1024 * 1024


class CloudReadError(SourceError):
    """A tenant's license could not be read. ``str()`` names the tenant, never the key."""

    def __init__(self, tenant: str, kind: str, transient: bool, detail: str) -> None:
        self.tenant = tenant
        self.kind = kind
        self.transient = transient
        self.detail = printable(detail, 300)
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"Qlik Cloud tenant {self.tenant!r}: {self.detail}"

    def __reduce__(self) -> tuple[object, ...]:
        # Celery pickles exceptions; keep every argument.
        return (type(self), (self.tenant, self.kind, self.transient, self.detail))


class CloudClient:
    """One tenant's HTTPS session, kept between checks (its connection reused)."""

    def __init__(self, name: str, tenant: Tenant, timeout: float) -> None:
        self.name = name
        self.tenant = tenant
        self.timeout = timeout
        self.session = bounded_session(requests.Session())
        # The service talks to the tenant (or the proxy `caFile` names), not the environment's.
        self.session.trust_env = False
        self.session.verify = str(tenant.ca_file) if tenant.ca_file else True

    def close(self) -> None:
        self.session.close()

    def overview(self) -> dict[str, Any]:
        deadline = time.monotonic() + 2 * self.timeout
        while True:
            answer = self._get(OVERVIEW, deadline)
            if answer.status != 429:
                return self._document(answer)
            wait = retry_after(answer.headers.get("Retry-After"))
            if wait is None or time.monotonic() + wait >= deadline:
                shown = "no Retry-After" if wait is None else f"Retry-After {wait:g} s"
                raise CloudReadError(
                    self.name,
                    "rate_limited",
                    True,
                    f"HTTP 429 (too many requests; {shown}, beyond this check's deadline)",
                )
            time.sleep(wait)

    def _get(self, path: str, deadline: float) -> Any:
        headers = {
            "Authorization": f"Bearer {self.tenant.api_key.get_secret_value()}",
            "Accept": "application/json",
        }
        try:
            return bounded_request(
                self.session,
                "GET",
                self.tenant.url.rstrip("/") + path,
                timeout=(self.timeout, self.timeout),
                limit=BODY_LIMIT,
                deadline=deadline,
                headers=headers,
            )
        except AnswerTooLarge:
            raise CloudReadError(
                self.name, "bad_answer", False, f"answer larger than {BODY_LIMIT} bytes"
            ) from None
        except requests.RequestException as exc:
            transient, reason = describe_request_exception(exc, self.timeout)
            kind = (
                "timeout"
                if isinstance(exc, requests.exceptions.Timeout)
                else "tls"
                if isinstance(exc, requests.exceptions.SSLError)
                else "connection"
            )
            raise CloudReadError(self.name, kind, transient, reason) from None

    def _document(self, answer: Any) -> dict[str, Any]:
        if answer.status in (401, 403):
            what = "no longer valid" if answer.status == 401 else "without the right to read it"
            raise CloudReadError(
                self.name,
                "auth_rejected",
                False,
                f"HTTP {answer.status}: the API key was refused ({what}); make a new key in "
                "the tenant's management console",
            )
        if answer.status >= 500:
            raise CloudReadError(self.name, "http_error", True, f"HTTP {answer.status}")
        if answer.status != 200:
            raise CloudReadError(self.name, "http_error", False, f"HTTP {answer.status}")
        try:
            document = answer.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise CloudReadError(
                self.name, "bad_answer", False, "the license overview is not a JSON object"
            )
        return document


def retry_after(text: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not text:
        return None
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
