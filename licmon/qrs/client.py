"""Thin adapter for the Qlik Sense Repository Service: ``GET /qrs/license``, its
``/qrs/license/accesstypeoverview`` and ``/qrs/about``.

One ``requests.Session`` per client, closed with it. Every failure leaves as a
:class:`~licmon.qrs.errors.QrsError` (see ``licmon.qrs.failures`` for how exceptions are
classified).
"""

from __future__ import annotations

import logging
import re
import secrets
import string
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import requests
from urllib3.exceptions import InsecureRequestWarning

from licmon.bounded_http import (
    Answer,
    AnswerTooLarge,
    BoundedAdapter,
    DeadlineExceeded,
    bounded_request,
)
from licmon.core.text import printable
from licmon.qrs.defaults import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_USER_HEADER,
)
from licmon.qrs.errors import (
    QrsAnswerTooLargeError,
    QrsBadResponseError,
    QrsClientConfigError,
    QrsError,
    QrsTimeoutError,
)
from licmon.qrs.failures import (
    error_for_exception,
    error_for_status,
    is_hang_up,
    unusable_header_names,
)

log = logging.getLogger(__name__)

_XRFKEY_ALPHABET = string.ascii_letters + string.digits
_QUOTES_SETTINGS = (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL)
# A License entity is a few kilobytes; anything near this is not one, and reading more would
# only cost memory (the JSON of it, several times over).
MAX_ANSWER_BYTES = 10 * 2**20


@dataclass(frozen=True, kw_only=True)
class QrsEndpoint:
    """Where a site's QRS is and how to authenticate to it."""

    site: str
    host: str
    port: int = DEFAULT_PORT
    use_ssl: bool = True
    client_cert: Path
    client_key: Path
    root_ca: Path | None
    # Qlik server certificates name the machine, rarely the name clients use: turning this
    # off still verifies the chain against root_ca.
    verify_hostname: bool = True
    # Butler's rejectUnauthorized; False skips chain verification altogether.
    reject_unauthorized: bool = True
    # Static headers from config may carry credentials: kept out of repr and logs.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    user_header: str = DEFAULT_USER_HEADER
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    @property
    def base_url(self) -> str:
        scheme = "https" if self.use_ssl else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal
        return f"{scheme}://{host}:{self.port}"


def new_xrfkey() -> str:
    """16 random letters and digits, as QRS requires."""
    return "".join(secrets.choice(_XRFKEY_ALPHABET) for _ in range(16))


class _ChainOnlyAdapter(BoundedAdapter):
    """Verifies the chain against the root CA but not the name in the server certificate.

    urllib3 2.x does this itself with ``assert_hostname=False`` (``check_hostname`` off,
    ``CERT_REQUIRED`` kept); the adapter only passes it to every pool it creates.
    """

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs["assert_hostname"] = False
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.setdefault("assert_hostname", False)
        return super().proxy_manager_for(proxy, **proxy_kwargs)


class QrsClient:
    """Calls one site's QRS. Not shared between threads that close it."""

    def __init__(self, endpoint: QrsEndpoint) -> None:
        self.endpoint = endpoint
        self._session = self._new_session()

        self._verify: bool | str
        if not endpoint.reject_unauthorized:
            self._verify = False
            self._silence_insecure_warning()
            log.warning(
                "QRS site %r: TLS certificate verification is OFF (rejectUnauthorized=false); "
                "the server at %s is not authenticated and could be impersonated. "
                "Set the root CA (cert.clientCertCA) and turn rejectUnauthorized on.",
                endpoint.site,
                endpoint.base_url,
            )
        elif endpoint.root_ca is not None:
            self._verify = str(endpoint.root_ca)
        else:
            self._verify = True  # the system trust store
        self._cert = (str(endpoint.client_cert), str(endpoint.client_key))

    def _new_session(self) -> requests.Session:
        endpoint = self.endpoint
        session = requests.Session()
        # Retries belong to the caller (Celery), which knows transient from permanent.
        adapter_class = BoundedAdapter if endpoint.verify_hostname else _ChainOnlyAdapter
        session.mount("https://", adapter_class(pool_connections=1, max_retries=0))
        session.mount("http://", BoundedAdapter(pool_connections=1, max_retries=0))
        session.headers.update(
            {
                "X-Qlik-User": endpoint.user_header,
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
        )
        # Butler's static headers come last so a config can override X-Qlik-User.
        session.headers.update(endpoint.headers)
        return session

    def _silence_insecure_warning(self) -> None:
        # The operator chose this and was told once (above); urllib3 would repeat it on
        # every request. Only this host's warning is silenced, not other unverified calls.
        host = re.escape(self.endpoint.host)
        warnings.filterwarnings(
            "ignore",
            message=rf"Unverified HTTPS request is being made to host '{host}'",
            category=InsecureRequestWarning,
        )

    def get_license(self) -> dict[str, Any]:
        """The site's License entity, or raises a QrsError."""
        return self._get_object("/qrs/license", missing_means_no_license=True)

    def get_access_overview(self) -> dict[str, Any]:
        """The site's access types (`/qrs/license/accesstypeoverview`), or raises a QrsError.

        A 404 is not "no license" here: a QRS older than 2018 has no such endpoint.
        """
        return self._get_object("/qrs/license/accesstypeoverview", missing_means_no_license=False)

    def get_about(self) -> dict[str, Any]:
        """Build version and node facts: a cheap reachability probe."""
        return self._get_object("/qrs/about", missing_means_no_license=False)

    def _get_object(self, path: str, *, missing_means_no_license: bool) -> dict[str, Any]:
        endpoint = self.endpoint
        started = time.monotonic()
        # One deadline for the call, the reconnection below included.
        deadline = started + endpoint.connect_timeout + endpoint.read_timeout
        try:
            answer = self._send(path, deadline)
        except (DeadlineExceeded, AnswerTooLarge) as exc:
            raise self._bounds_error(exc) from None
        except _QUOTES_SETTINGS as exc:
            # Their text quotes a header value (a credential, often) or the URL: not chained,
            # since a chained exception is printed with the traceback Celery stores.
            raise error_for_exception(endpoint, exc) from None
        except requests.RequestException as exc:
            if not is_hang_up(exc):
                raise error_for_exception(endpoint, exc) from exc
            # The server closed without answering. On a kept-alive connection that is
            # usually the server having dropped it while idle: GET is idempotent, so try
            # once more on a new connection. A new connection hanging up right after its
            # handshake is a verdict, not a race (see failures.error_for_exception).
            log.debug(
                "QRS site %r: connection closed without an answer; reconnecting", endpoint.site
            )
            self._session.close()  # drops pooled connections; the session stays usable
            try:
                answer = self._send(path, deadline)
            except (DeadlineExceeded, AnswerTooLarge) as again:
                raise self._bounds_error(again) from None
            except requests.RequestException as again:
                raise error_for_exception(endpoint, again, fresh_connection=True) from again
        log.debug(
            "QRS site %r: GET %s -> %s in %.0f ms",
            endpoint.site,
            path,
            answer.status,
            (time.monotonic() - started) * 1000,
        )
        if answer.status != 200:
            raise error_for_status(
                endpoint.site, path, answer, missing_means_no_license=missing_means_no_license
            )
        return _json_object(endpoint.site, path, answer)

    def _send(self, path: str, deadline: float) -> Answer:
        endpoint = self.endpoint
        key = new_xrfkey()
        if not endpoint.reject_unauthorized:
            # Again per call: warning filters are process state that others (pytest,
            # warnings.catch_warnings) may have reset since this client was made.
            self._silence_insecure_warning()
        try:
            # Redirects are not followed: a redirect means a login page, not QRS.
            return bounded_request(
                self._session,
                "GET",
                endpoint.base_url + path,
                params={"xrfkey": key},
                headers={"X-Qlik-Xrfkey": key},
                # Passed per request: a session-level value loses to REQUESTS_CA_BUNDLE.
                verify=self._verify,
                cert=self._cert if endpoint.use_ssl else None,
                timeout=(endpoint.connect_timeout, endpoint.read_timeout),
                deadline=deadline,
                limit=MAX_ANSWER_BYTES,
            )
        except requests.RequestException:
            raise
        except OSError as exc:  # requests' own checks of the certificate and CA paths
            raise QrsClientConfigError(endpoint.site, printable(str(exc), 300)) from None
        except ValueError:
            # http.client refusing a header value it cannot encode; its message quotes part
            # of the value, which may be a credential: name the headers instead.
            names = unusable_header_names(endpoint.headers) or ["?"]
            raise QrsClientConfigError(
                endpoint.site,
                f"header {', '.join(names)} cannot be sent: a value HTTP headers cannot carry "
                "(a character outside Latin-1, a line break or another control character)",
            ) from None

    def _bounds_error(self, exc: DeadlineExceeded | AnswerTooLarge) -> QrsError:
        endpoint = self.endpoint
        target = f"{endpoint.host}:{endpoint.port}"
        if isinstance(exc, AnswerTooLarge):
            return QrsAnswerTooLargeError(
                endpoint.site,
                f"{target} answered more than {exc.limit // 2**20} MB; a License is a few KB, "
                "so something other than QRS may be answering",
                status=200,
            )
        # The budget of the whole call, as configured: `exc.seconds` is what was left of it
        # when the last attempt began, a few milliseconds short of it.
        budget = endpoint.connect_timeout + endpoint.read_timeout
        return QrsTimeoutError(
            endpoint.site,
            f"no complete answer from {target} within {budget:g} s (connect timeout "
            f"{endpoint.connect_timeout:g} s + read timeout {endpoint.read_timeout:g} s)",
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> QrsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _json_object(site: str, path: str, answer: Answer) -> dict[str, Any]:
    content_type = printable(answer.headers.get("Content-Type", "no content type"), 80)
    try:
        document = answer.json()
    except ValueError as exc:
        raise QrsBadResponseError(
            site,
            f"GET {path} answered 200 with {content_type} ({len(answer.body)} bytes) that is "
            f"not valid JSON ({printable(str(exc), 120)}); something other than QRS may be "
            "answering",
            status=200,
        ) from None
    if not isinstance(document, dict):
        raise QrsBadResponseError(
            site,
            f"GET {path} answered a JSON {type(document).__name__}, expected an object",
            status=200,
        )
    return document
