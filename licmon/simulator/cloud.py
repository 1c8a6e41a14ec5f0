"""A Qlik Cloud tenant look-alike: ``GET /api/v1/licenses/overview`` and
``GET /api/v1/licenses/status`` over HTTPS, behind a bearer API key.

One HTTPS server per simulated tenant, each on its own port, with its own API key, license
and fault. The server certificate names ``localhost`` and ``127.0.0.1`` and is issued by a
CA of the simulator's (``ca_file``), which a client trusts as its ``caFile``. Tests change
a tenant's license and fault while it runs and read what it was asked.

Like Qlik Cloud: a missing or wrong ``Authorization: Bearer <key>`` is always a 401 with
``{"errors": [...]}`` (the key is never echoed, logged or recorded); faults apply only to
requests that carry the right key, and after the key check.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hmac
import json
import logging
import os
import secrets
import ssl
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from licmon.simulator.certs import LOOPBACK_SERVER_NAMES, CloudCerts, ensure_cloud_certs
from licmon.simulator.serving import Servers, TlsServer

log = logging.getLogger("licmon.simulator.cloud")

CLOUD_FAULTS: tuple[str, ...] = (
    "none",
    "401",  # any key refused, the right one too (a revoked or expired key)
    "403",  # the key is known but lacks the right to read licenses
    "429",  # rate limited, with Retry-After: <retry_after>
    "slow",  # the right answer after slow_seconds
    "malformed",  # 200 application/json that is not JSON
    "not_object",  # 200 a JSON list instead of the object
    "500",
)
CLOUD_LICENSE_STATUSES: tuple[str, ...] = ("Ok", "Blacklisted", "Expired", "Missing")
CLOUD_LICENSE_TYPES: tuple[str, ...] = ("Signed", "Plain", "2.0")
OVERVIEW_PATH = "/api/v1/licenses/overview"
STATUS_PATH = "/api/v1/licenses/status"

_IDLE_TIMEOUT = 60.0
_MALFORMED = b'{"licenseNumber": "9999000000005678", "allotments": [{"name": "profess'


def _iso(moment: dt.datetime) -> str:
    """ISO 8601 UTC with ``Z``, whole seconds: ``2026-12-07T00:00:00Z``."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _fake_jwt(claims: dict[str, Any], signature_bytes: int = 256) -> str:
    """A JWT-shaped string (header.claims.signature); signed by nobody."""
    header = {"alg": "ES384", "kid": "simulated", "typ": "JWT"}
    return ".".join(
        (
            _b64(json.dumps(header).encode()),
            _b64(json.dumps(claims).encode()),
            _b64(secrets.token_bytes(signature_bytes)),
        )
    )


def new_api_key() -> str:
    """A fresh random key shaped like a Qlik Cloud API key (a JWT)."""
    return _fake_jwt(
        {"sub": secrets.token_hex(12), "subType": "user", "jti": secrets.token_hex(16)}, 96
    )


def _default_license_key() -> str:
    return _fake_jwt({"licenseNumber": "9999000000005678", "product": "simulated"})


@dataclass
class CloudAllotment:
    """One allotment of the overview: ``name`` is professional, analyzer or analyzer_time.

    ``overage``: None leaves the field out; -1 means unbounded.
    """

    name: str
    units: int
    units_used: int
    overage: int | None = None
    usage_class: str = "assigned"

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "name": self.name,
            "units": self.units,
            "unitsUsed": self.units_used,
            "usageClass": self.usage_class,
        }
        if self.overage is not None:
            document["overage"] = self.overage
        return document


def _default_allotments() -> list[CloudAllotment]:
    return [
        CloudAllotment("professional", 10, 4),
        CloudAllotment("analyzer", 50, 20),
        CloudAllotment("analyzer_time", 1000, 100, usage_class="time"),
    ]


@dataclass
class SimulatedCloudLicense:
    """What the tenant is licensed with; ``overview(now)`` and ``status_document(now)`` are
    the two answers.

    The license ends at 00:00:00Z of the day `ends_in_days` days after `now`'s (UTC), so
    the UTC calendar days from `now` to the end are exactly `ends_in_days`; 0 means it
    ended at today's midnight, negative days ago. None: an open end, written as
    ``<start>/`` (``open_end="slash"``) or as ``<start>`` alone (``open_end="bare"``), and
    no ``latestValidTime``. The start is 365 days before the end (before today's midnight
    for an open end). ``status`` is given, never derived: an ended license still says "Ok"
    unless told "Expired" (a tenant answers what its license service says). "Missing":
    the status document says so and the overview is a 404.
    """

    ends_in_days: int | None = 365
    status: str = "Ok"
    trial: bool = False
    product: str = "Qlik Sense Business"  # or "Qlik Cloud Analytics Standard"
    allotments: list[CloudAllotment] = field(default_factory=_default_allotments)
    license_type: str = "Signed"  # the status document's `type`
    open_end: Literal["slash", "bare"] = "slash"
    license_number: str = "9999000000005678"
    license_key: str = field(default_factory=_default_license_key)
    secondary_number: str = "0"
    version: str = "1"
    origin: str = "Internal"
    deactivated: bool = False
    extension_status: str = "Ok"

    def __post_init__(self) -> None:
        if self.status not in CLOUD_LICENSE_STATUSES:
            known = ", ".join(CLOUD_LICENSE_STATUSES)
            raise ValueError(f"unknown license status {self.status!r}; known: {known}")
        if self.license_type not in CLOUD_LICENSE_TYPES:
            known = ", ".join(CLOUD_LICENSE_TYPES)
            raise ValueError(f"unknown license type {self.license_type!r}; known: {known}")
        if self.open_end not in ("slash", "bare"):
            raise ValueError(f"open_end is 'slash' or 'bare', not {self.open_end!r}")
        if not self.license_number.isdigit():
            raise ValueError(f"licenseNumber is digits, not {self.license_number!r}")

    def end(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """When the license ends (None: open end)."""
        if self.ends_in_days is None:
            return None
        today = (now or _utc_now()).astimezone(dt.UTC).date()
        return _midnight(today + dt.timedelta(days=self.ends_in_days))

    def start(self, now: dt.datetime | None = None) -> dt.datetime:
        end = self.end(now)
        if end is None:
            end = _midnight((now or _utc_now()).astimezone(dt.UTC).date())
        return end - dt.timedelta(days=365)

    def valid(self, now: dt.datetime | None = None) -> str:
        """The ``valid`` ISO 8601 interval: ``<start>/<end>``, ``<start>/`` or ``<start>``."""
        now = now or _utc_now()
        start, end = _iso(self.start(now)), self.end(now)
        if end is not None:
            return f"{start}/{_iso(end)}"
        return f"{start}/" if self.open_end == "slash" else start

    def overview(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """``GET /api/v1/licenses/overview``."""
        now = now or _utc_now()
        valid = self.valid(now)
        end = self.end(now)
        start = self.start(now)
        document: dict[str, Any] = {
            "licenseNumber": self.license_number,
            "licenseKey": self.license_key,
            "product": self.product,
            "status": self.status,
            "trial": self.trial,
            "valid": valid,
        }
        if end is not None:
            document["latestValidTime"] = _iso(end)
        document |= {
            "changeTime": _iso(start),
            "updated": _iso(start + dt.timedelta(days=1)),
            "origin": self.origin,
            "secondaryNumber": self.secondary_number,
            "version": self.version,
            "parameters": [
                {"name": "api-keys", "valid": valid, "values": {"enabled": True}},
                {
                    "name": "automations",
                    "valid": valid,
                    "access": {"allotment": "professional"},
                    "values": {"maxRuns": 5000},
                },
            ],
            "allotments": [allotment.to_json() for allotment in self.allotments],
        }
        return document

    def status_document(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """``GET /api/v1/licenses/status``."""
        document: dict[str, Any] = {"type": self.license_type, "status": self.status}
        document["trial"] = self.trial
        if self.status != "Missing":
            document["valid"] = self.valid(now)
        document |= {
            "origin": self.origin,
            "product": self.product,
            "deactivated": self.deactivated,
            "extensionStatus": self.extension_status,
        }
        return document


@dataclass
class CloudTenantSpec:
    """How to start one simulated tenant. ``port=0`` picks a free port.

    ``fault_count``: the fault applies to that many (authorised) requests, then the tenant
    is back to "none"; None: until changed.
    """

    name: str
    api_key: str = field(default_factory=new_api_key, repr=False)
    license: SimulatedCloudLicense = field(default_factory=SimulatedCloudLicense)
    fault: str = "none"
    retry_after: float = 1.0
    slow_seconds: float = 2.0
    port: int = 0
    fault_count: int | None = None

    def __post_init__(self) -> None:
        _check_fault(self.fault)
        _check_count(self.fault_count)


@dataclass(frozen=True)
class CloudRequest:
    """What a client asked, for assertions: never its key, nor any header."""

    method: str
    path: str  # without the query
    authorized: bool  # the right bearer key
    status: int
    fault: str  # the fault that shaped the answer ("none" also when unauthorised)


def _check_fault(fault: str) -> None:
    if fault not in CLOUD_FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(CLOUD_FAULTS)}")


def _check_count(count: int | None) -> None:
    if count is not None and count < 0:
        raise ValueError(f"fault_count is None or >= 0, not {count}")


class CloudTenant:
    """Live state of one running tenant; safe to change from any thread."""

    def __init__(self, spec: CloudTenantSpec, host: str, ca_file: Path) -> None:
        self.name = spec.name
        self.host = host
        self.port = spec.port  # the bound port once started
        self.ca_file = ca_file
        self._lock = threading.Lock()
        self._api_key = spec.api_key
        self._license = spec.license
        self._fault, self._fault_count = "none", None
        self.set_fault(spec.fault, spec.fault_count)
        self._retry_after = spec.retry_after
        self._slow_seconds = spec.slow_seconds
        self._requests: list[CloudRequest] = []
        self.stopping = threading.Event()

    def __repr__(self) -> str:  # no key
        return f"CloudTenant({self.name!r}, {self.url!r})"

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def api_key(self) -> str:
        with self._lock:
            return self._api_key

    @api_key.setter
    def api_key(self, value: str) -> None:
        with self._lock:
            self._api_key = value

    @property
    def license(self) -> SimulatedCloudLicense:
        with self._lock:
            return self._license

    @license.setter
    def license(self, value: SimulatedCloudLicense) -> None:
        with self._lock:
            self._license = value

    @property
    def fault(self) -> str:
        with self._lock:
            return self._fault

    @fault.setter
    def fault(self, value: str) -> None:
        """Until changed: also forgets a `fault_count` left from an earlier fault."""
        self.set_fault(value)

    @property
    def fault_count(self) -> int | None:
        """Requests the current fault still applies to (None: until changed)."""
        with self._lock:
            return self._fault_count

    def set_fault(self, fault: str, count: int | None = None) -> None:
        """`fault` for the next `count` authorised requests (None: until changed)."""
        _check_fault(fault)
        _check_count(count)
        with self._lock:
            self._fault = fault if count != 0 else "none"
            self._fault_count = count if fault != "none" and count != 0 else None

    @property
    def retry_after(self) -> float:
        with self._lock:
            return self._retry_after

    @retry_after.setter
    def retry_after(self, value: float) -> None:
        with self._lock:
            self._retry_after = value

    @property
    def slow_seconds(self) -> float:
        with self._lock:
            return self._slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, value: float) -> None:
        with self._lock:
            self._slow_seconds = value

    @property
    def requests(self) -> list[CloudRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def reset_counters(self) -> None:
        with self._lock:
            self._requests.clear()

    def _authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        with self._lock:
            expected = self._api_key
        return hmac.compare_digest(token.strip().encode(), expected.encode())

    def _take(self) -> tuple[SimulatedCloudLicense, str, float, float]:
        """License, fault, retry_after, slow_seconds for one authorised request; counts the
        request against `fault_count`."""
        with self._lock:
            fault = self._fault
            if self._fault_count is not None and fault != "none":
                self._fault_count -= 1
                if self._fault_count <= 0:
                    self._fault, self._fault_count = "none", None
            return self._license, fault, self._retry_after, self._slow_seconds

    def _record(self, request: CloudRequest) -> None:
        with self._lock:
            self._requests.append(request)


def _errors(status: int, title: str, detail: str | None = None) -> bytes:
    error: dict[str, Any] = {"code": str(status), "title": title, "status": str(status)}
    if detail:
        error["detail"] = detail
    return json.dumps({"errors": [error]}).encode()


_UNAUTHORIZED = _errors(401, "Unauthorized")
_JSON = "application/json; charset=utf-8"
_CHALLENGE = 'Bearer realm="qlikcloud"'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "envoy"  # what answers in front of a Qlik Cloud tenant
    sys_version = ""
    timeout = _IDLE_TIMEOUT
    server: _TenantServer

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        tenant = self.server.tenant
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # keep the connection usable
        path = urlsplit(self.path).path
        if not tenant._authorized(self.headers.get("Authorization")):
            self._record(path, authorized=False, status=401, fault="none")
            self._send(401, _JSON, _UNAUTHORIZED, {"WWW-Authenticate": _CHALLENGE})
            return
        license_, fault, retry_after, slow_seconds = tenant._take()
        if fault == "slow" and tenant.stopping.wait(slow_seconds):
            self.close_connection = True
            return
        status, content_type, body, extra = self._answer(
            path.rstrip("/"), fault, license_, retry_after
        )
        self._record(path, authorized=True, status=status, fault=fault)
        self._send(status, content_type, body, extra)

    def _answer(
        self, path: str, fault: str, license_: SimulatedCloudLicense, retry_after: float
    ) -> tuple[int, str, bytes, dict[str, str]]:
        if fault == "401":
            return 401, _JSON, _UNAUTHORIZED, {"WWW-Authenticate": _CHALLENGE}
        if fault == "403":
            detail = "The API key has no right to read the tenant's license."
            return 403, _JSON, _errors(403, "Forbidden", detail), {}
        if fault == "429":
            headers = {"Retry-After": _seconds(retry_after)}
            return 429, _JSON, _errors(429, "Too Many Requests"), headers
        if fault == "500":
            return 500, _JSON, _errors(500, "Internal Server Error"), {}
        if path not in (OVERVIEW_PATH, STATUS_PATH):
            return 404, _JSON, _errors(404, "Not Found"), {}
        if self.command != "GET":
            return 405, _JSON, _errors(405, "Method Not Allowed"), {"Allow": "GET"}
        now = _utc_now()
        if path == STATUS_PATH:
            document = license_.status_document(now)
        elif license_.status == "Missing":
            return 404, _JSON, _errors(404, "License not found"), {}
        else:
            document = license_.overview(now)
        if fault == "malformed":
            return 200, _JSON, _MALFORMED, {}
        if fault == "not_object":
            return 200, _JSON, json.dumps([document]).encode(), {}
        return 200, _JSON, json.dumps(document).encode(), {}

    def _send(self, status: int, content_type: str, body: bytes, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        # Status line, headers and body in one write (end_headers would flush them alone).
        self._headers_buffer.extend((b"\r\n", body))
        self.flush_headers()

    def _record(self, path: str, *, authorized: bool, status: int, fault: str) -> None:
        self.server.tenant._record(CloudRequest(self.command, path, authorized, status, fault))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path
        log.info("tenant %s: %s %s -> %s", self.server.tenant.name, self.command, path, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("tenant %s: %s", self.server.tenant.name, format % args)


def _seconds(value: float) -> str:
    """Retry-After as delay-seconds: an integer when whole, else as given (``0.5``)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class _TenantServer(TlsServer):
    def __init__(self, tenant: CloudTenant, context: ssl.SSLContext) -> None:
        self.tenant = tenant
        super().__init__((tenant.host, tenant.port), _Handler, context, f"tenant {tenant.name}")


def tenant_ssl_context(certs: CloudCerts) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server.cert, certs.server.key)
    return context


class CloudTenants:
    """Running tenants, by name. Stop with ``close()`` (or use ``run_cloud_tenants``)."""

    def __init__(self, certs: CloudCerts, tenants: dict[str, CloudTenant]) -> None:
        self.certs = certs
        self.tenants = tenants
        self._running = Servers()

    @property
    def ca_file(self) -> Path:
        return self.certs.ca_file

    def _start(self) -> None:
        context = tenant_ssl_context(self.certs)
        try:
            for tenant in self.tenants.values():
                server = _TenantServer(tenant, context)
                tenant.port = int(server.server_address[1])
                self._running.start(server, f"cloud-tenant-{tenant.name}")
                log.info("tenant %s: listening on %s", tenant.name, tenant.url)
        except BaseException:
            self.close()
            raise

    def drop_connections(self) -> None:
        self._running.drop_connections()

    def close(self) -> None:
        for tenant in self.tenants.values():
            tenant.stopping.set()  # releases "slow" handlers
        self._running.close()


def start_cloud_tenants(
    specs: Sequence[CloudTenantSpec],
    cert_dir: str | os.PathLike[str] | CloudCerts,
    *,
    host: str = "127.0.0.1",
    server_names: Sequence[str] = LOOPBACK_SERVER_NAMES,
) -> CloudTenants:
    """Start every tenant; the CA and server pair are made in `cert_dir` unless given."""
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"tenant names must be unique: {names}")
    if isinstance(cert_dir, CloudCerts):
        certs = cert_dir
    else:
        certs = ensure_cloud_certs(Path(cert_dir), server_names)
    tenants = {spec.name: CloudTenant(spec, host, certs.ca_file) for spec in specs}
    running = CloudTenants(certs, tenants)
    running._start()
    return running


@contextlib.contextmanager
def run_cloud_tenants(
    specs: Sequence[CloudTenantSpec],
    cert_dir: str | os.PathLike[str] | CloudCerts,
    *,
    host: str = "127.0.0.1",
    server_names: Sequence[str] = LOOPBACK_SERVER_NAMES,
) -> Iterator[CloudTenants]:
    running = start_cloud_tenants(specs, cert_dir, host=host, server_names=server_names)
    try:
        yield running
    finally:
        running.close()
