"""`licmon.broker`'s connection keys, checked together: the URLs' schemes, TLS and Sentinel.

Every process that opens Redis (worker, beat, the CLI, the exporter) loads the config
first, so a problem found here stops each of them at start, naming the key or the file and
what is wrong, instead of a connection that retries forever on a certificate it can never
accept.

The URLs' own TLS query parameters (`?ssl_ca_certs=...`, as kombu and redis-py read them)
are moved onto `licmon.broker.tls` and taken off the URLs, or refused: never left for one
library to honour and another to ignore. Messages never quote a URL (it may hold a
password): they name the key and the parameter.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

from licmon.config import pem
from licmon.config.build import Build
from licmon.config.model import BrokerSentinel, BrokerTls

URL_KEYS = (("url", "licmon.broker.url"), ("resultBackend", "licmon.broker.resultBackend"))
# redis-py's (and Celery's) TLS query parameters and the `licmon.broker.tls` key each means.
MAPPED = {"ssl_ca_certs": "caFile", "ssl_certfile": "certFile", "ssl_keyfile": "keyFile"}
# ssl_cert_reqs may only say what licmon does anyway: verify the broker's certificate.
VERIFIED = {"required", "cert_required"}
# A broker client certificate expiring within this many days is warned about at start.
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class BrokerConnection:
    url: SecretStr
    result_backend: SecretStr
    tls: BrokerTls | None
    sentinel: BrokerSentinel | None


def scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def build_broker(section: Any, build: Build, zoned: bool) -> BrokerConnection:
    """The broker's URLs (TLS parameters taken off), its TLS files and Sentinel settings;
    problems reported to `build`. `zoned`: some site is checked by a zone's workers."""
    given: dict[str, tuple[str, Path]] = {}  # tls key -> (where it came from, path)
    urls: dict[str, str] = {}
    for key, path in URL_KEYS:
        text = getattr(section, key).get_secret_value()
        urls[key] = _take_tls_params(text, path, build, given)
    tls_section = section.tls
    for key in ("caFile", "certFile", "keyFile"):
        value = getattr(tls_section, key)
        if value is None:
            continue
        earlier = given.get(key)
        if earlier is not None and earlier[1] != value:
            build.problem(
                f"licmon.broker.tls.{key}",
                f"differs from the URL's {_param(key)} in {earlier[0]}: give it once",
            )
        given[key] = (f"licmon.broker.tls.{key}", value)
    schemes = {scheme(url) for url in urls.values()}
    tls = _tls(given, build) if given else None
    if tls is not None and not ({"rediss", "sentinel"} & schemes):
        build.problem(
            "licmon.broker.tls",
            "is set but neither licmon.broker.url nor licmon.broker.resultBackend is "
            "rediss:// or sentinel://: the files would not be used (use rediss://)",
        )
    sentinel = _sentinel(section.sentinel, "sentinel" in schemes, build)
    if zoned:
        _warn_plain_text(urls, tls is not None, build)
    return BrokerConnection(
        url=SecretStr(urls["url"]),
        result_backend=SecretStr(urls["resultBackend"]),
        tls=tls,
        sentinel=sentinel,
    )


def _param(key: str) -> str:
    return next(name for name, mapped in MAPPED.items() if mapped == key)


def _take_tls_params(url: str, path: str, build: Build, given: dict[str, tuple[str, Path]]) -> str:
    """`url` without its TLS query parameters (each part of a `;`-separated Sentinel
    list); the mapped ones recorded in `given`, the others reported."""
    parts = []
    for part in url.split(";"):
        split = urlsplit(part)
        if not split.query:
            parts.append(part)
            continue
        kept = []
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            lowered = name.lower()
            if not lowered.startswith("ssl"):
                kept.append((name, value))
                continue
            if scheme(part) not in ("rediss", "sentinel"):
                build.problem(path, f"has the TLS parameter {name!r} on a plain-text URL: "
                              "use rediss://")  # fmt: skip
            elif lowered in MAPPED:
                key = MAPPED[lowered]
                earlier = given.get(key)
                if earlier is not None and earlier[1] != Path(value):
                    build.problem(path, f"its {name!r} differs from {earlier[0]}: give it once")
                given.setdefault(key, (f"{path} ({name})", Path(value)))
            elif lowered == "ssl_cert_reqs":
                if value.strip().lower() not in VERIFIED:
                    build.problem(
                        path,
                        f"{name}={value[:20]!r} would stop verifying the broker's certificate;"
                        " licmon always verifies it: give the CA that signed it in "
                        "licmon.broker.tls.caFile",
                    )
            else:
                build.problem(
                    path,
                    f"the TLS parameter {name!r} is not supported: use licmon.broker.tls."
                    "{caFile, certFile, keyFile}",
                )
        query = urlencode(kept)
        parts.append(urlunsplit(split._replace(query=query)))
    return ";".join(parts)


def _tls(given: dict[str, tuple[str, Path]], build: Build) -> BrokerTls:
    def where(key: str) -> str:
        # A problem of a file given in a URL is reported under the URL's key.
        return given[key][0].split(" (", 1)[0]

    ca = given.get("caFile")
    cert, key = given.get("certFile"), given.get("keyFile")
    ca_file = build.ca_file(where("caFile"), ca[1], "broker CA") if ca else None
    cert_file = key_file = None
    if (cert is None) != (key is None):
        missing = "keyFile" if key is None else "certFile"
        build.problem(f"licmon.broker.tls.{missing}", "required with a client certificate's "
                      "other half (certFile and keyFile go together)")  # fmt: skip
    elif cert is not None and key is not None:
        before = len(build.problems.problems)
        cert_file, key_file = build.certificate_pair(
            where("certFile"), cert[1], where("keyFile"), key[1], "broker client"
        )
        if len(build.problems.problems) == before and cert_file is not None:
            problem = validity_problem(cert_file)
            if problem:
                build.problem(
                    where("certFile"),
                    f"broker client certificate file {pem.shown(cert_file)} {problem}",
                )
            else:
                _warn_expiring(cert_file, where("certFile"), build)
    if ca_file is not None and not any(p.path == where("caFile") for p in build.problems.problems):
        problem = validity_problem(ca_file, every=True)
        if problem:
            build.problem(where("caFile"), f"broker CA file {pem.shown(ca_file)} {problem}")
    return BrokerTls(ca_file=ca_file, cert_file=cert_file, key_file=key_file)


def validity_problem(path: Path, every: bool = False, now: datetime | None = None) -> str | None:
    """Whether the (first; with `every`, every) certificate in `path` is outside its
    validity dates: a TLS handshake with it can only fail."""
    from cryptography import x509

    now = now or datetime.now(UTC)
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError):
        return None  # what OpenSSL could not read is reported by pem.certificate_problem
    checked = certificates if every else certificates[:1]
    problems = []
    for certificate in checked:
        if certificate.not_valid_after_utc < now:
            problems.append(f"has expired (not after {certificate.not_valid_after_utc:%Y-%m-%d})")
        elif certificate.not_valid_before_utc > now:
            problems.append(
                f"is not valid yet (not before {certificate.not_valid_before_utc:%Y-%m-%d})"
            )
    # A CA bundle may carry an expired root beside the one in use: only all of them is fatal.
    if problems and len(problems) == len(checked):
        return (
            problems[0]
            if len(checked) == 1
            else "holds only certificates that " + ("have expired or are not valid yet")
        )
    return None


def _warn_expiring(path: Path, key: str, build: Build, now: datetime | None = None) -> None:
    """Checked at start only: a client certificate that expires soon is said now, while
    the processes still run, not first when every one of them is refused at once."""
    from cryptography import x509

    now = now or datetime.now(UTC)
    try:
        ends = x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc
    except (OSError, ValueError):
        return
    days = (ends - now).days
    if days < EXPIRY_WARNING_DAYS:
        build.warn(
            f"{key}: the broker client certificate {pem.shown(path)} expires on "
            f"{ends:%Y-%m-%d} (in {days} days); the broker will refuse every process then"
        )


def _sentinel(section: Any, used: bool, build: Build) -> BrokerSentinel | None:
    name = (section.masterName or "").strip()
    if used and not name:
        build.problem(
            "licmon.broker.sentinel.masterName",
            "required with a sentinel:// URL: the name the sentinels monitor the master under",
        )
        return None
    if not used:
        for key in ("masterName", "password"):
            if getattr(section, key) is not None:
                build.problem(
                    f"licmon.broker.sentinel.{key}",
                    "is set but neither licmon.broker.url nor licmon.broker.resultBackend is "
                    "a sentinel:// URL: it would not be used",
                )
        return None
    return BrokerSentinel(master_name=name, password=section.password)


def _warn_plain_text(urls: dict[str, str], tls: bool, build: Build) -> None:
    """A zone's workers run in another network: their broker in clear text across it is
    worth a warning (not an error: a VPN or a private link may already encrypt it)."""
    for path, url in zip((path for _, path in URL_KEYS), urls.values(), strict=True):
        kind = scheme(url)
        if kind == "rediss" or (kind == "sentinel" and tls) or kind not in ("redis", "sentinel"):
            continue
        remote = sorted({host for host in _hosts(url) if not is_local_host(host)})
        if remote:
            build.warn(
                f"{path} is {kind}:// without TLS to {', '.join(remote)}, and some sites are "
                "checked by zone workers, which reach it from their own networks: use "
                "rediss:// (licmon.broker.tls) unless the link is already encrypted"
            )


def _hosts(url: str) -> list[str]:
    hosts = []
    for part in url.split(";"):
        try:
            host = urlsplit(part).hostname
        except ValueError:
            host = None
        if host:
            hosts.append(host)
    return hosts


def is_local_host(host: str) -> bool:
    """Loopback, or a single-label name (a compose service, `redis`, on the compose
    network): no traffic leaves the machine or its container network."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return "." not in host
