"""Every Redis connection of the project, built in one place from `licmon.broker`.

Celery's broker and result backend (`celery_options`) and our own clients (`client`: claims,
fleet state, the beat's lease, rate limits, dead letters, the CLI, the exporter) are made
from the same URL, TLS files and Sentinel settings, with the libraries' own support:
kombu's `broker_use_ssl` and Sentinel transport options, Celery's `redis_backend_use_ssl`
and `result_backend_transport_options`, redis-py's `Redis.from_url` and
`redis.sentinel.Sentinel`. A client of a Sentinel deployment follows the master the
sentinels name: redis-py asks them again for each new connection, and a connection to a
demoted master fails (READONLY or refused), so the next command goes to the new one.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from licmon.config.model import BrokerSettings, BrokerTls

if TYPE_CHECKING:
    import redis

# What our state store and the CLI can read: Redis, over TCP, TLS, a socket or Sentinel.
REDIS_SCHEMES = ("redis", "rediss", "unix", "sentinel")
# How long a client waits for the sentinels and a node; the caller's timeouts still bound
# each command.
SENTINEL_SOCKET_SECONDS = 5.0


def scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def is_redis(url: str) -> bool:
    """Whether `url` is a Redis the project keeps its state in (the demo's embedded SQLite
    broker is not)."""
    return scheme(url) in REDIS_SCHEMES


def uses_tls(broker: BrokerSettings, url: str) -> bool:
    """`rediss://`, or Sentinel with `licmon.broker.tls` set (sentinels and data nodes)."""
    kind = scheme(url)
    return kind == "rediss" or (kind == "sentinel" and broker.tls is not None)


def ssl_options(tls: BrokerTls | None) -> dict[str, Any]:
    """redis-py's TLS keywords (the same names kombu and Celery take in their `*_use_ssl`
    dicts): the certificate always verified, against `caFile` or the system's CAs."""
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if tls is not None:
        if tls.ca_file is not None:
            options["ssl_ca_certs"] = str(tls.ca_file)
        if tls.cert_file is not None and tls.key_file is not None:
            options["ssl_certfile"] = str(tls.cert_file)
            options["ssl_keyfile"] = str(tls.key_file)
    return options


def sentinels(url: str) -> list[tuple[str, int]]:
    """(host, port) of each `sentinel://host:port` of a `;`-separated list."""
    found = []
    for part in url.split(";"):
        split = urlsplit(part.strip())
        if split.hostname:
            found.append((split.hostname, split.port or 26379))
    return found


def _sentinel_kwargs(broker: BrokerSettings, url: str) -> dict[str, Any]:
    """How to talk to the sentinels themselves: their own password, TLS as the nodes."""
    options: dict[str, Any] = {
        "socket_timeout": SENTINEL_SOCKET_SECONDS,
        "socket_connect_timeout": SENTINEL_SOCKET_SECONDS,
    }
    sentinel = broker.sentinel
    if sentinel is not None and sentinel.password is not None:
        options["password"] = sentinel.password.get_secret_value()
    if uses_tls(broker, url):
        options |= {"ssl": True, **ssl_options(broker.tls)}
    return options


def celery_options(broker: BrokerSettings) -> dict[str, Any]:
    """Celery settings for TLS and Sentinel, to merge into the others; the broker's
    transport options are merged into `broker_transport_options` by the caller."""
    url = broker.url.get_secret_value()
    backend = broker.result_backend.get_secret_value()
    options: dict[str, Any] = {}
    if uses_tls(broker, url):
        options["broker_use_ssl"] = ssl_options(broker.tls)
    if uses_tls(broker, backend):
        options["redis_backend_use_ssl"] = ssl_options(broker.tls)
    if scheme(backend) == "sentinel" and broker.sentinel is not None:
        options["result_backend_transport_options"] = {
            "master_name": broker.sentinel.master_name,
            "sentinel_kwargs": _sentinel_kwargs(broker, backend),
        }
    return options


def result_backend_url(broker: BrokerSettings) -> str:
    """The result backend's URL as Celery gets it. For Sentinel, the data nodes' password
    is kept in the first part only: Celery's SentinelBackend reads it from there alone,
    and its sanitizer (`celery inspect conf`, Flower's config page) masks only the first
    password of a URL, so a second copy would be shown."""
    url = broker.result_backend.get_secret_value()
    if scheme(url) != "sentinel":
        return url
    first, *others = url.split(";")
    return ";".join([first, *(_without_password(part) for part in others)])


def _without_password(part: str) -> str:
    split = urlsplit(part.strip())
    if split.password is None and split.username is None:
        return part
    host = split.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if split.port:
        netloc += f":{split.port}"
    return urlunsplit(split._replace(netloc=netloc))


def broker_transport_options(broker: BrokerSettings) -> dict[str, Any]:
    """kombu's Sentinel options for the broker (none for a plain Redis)."""
    url = broker.url.get_secret_value()
    if scheme(url) != "sentinel" or broker.sentinel is None:
        return {}
    return {
        "master_name": broker.sentinel.master_name,
        "sentinel_kwargs": _sentinel_kwargs(broker, url),
    }


def client(
    broker: BrokerSettings,
    *,
    socket_timeout: float = 10,
    socket_connect_timeout: float | None = None,
    **options: Any,
) -> redis.Redis:
    """A redis-py client of the broker's Redis (its database 0 as the URL says): the state
    store of claims, fleet state, lease, rate limits and dead letters."""
    import redis
    from redis.sentinel import Sentinel, SentinelManagedSSLConnection

    url = broker.url.get_secret_value()
    timeouts = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_connect_timeout or socket_timeout,
        **options,
    }
    if scheme(url) != "sentinel":
        extra = ssl_options(broker.tls) if uses_tls(broker, url) else {}
        return redis.Redis.from_url(url, **timeouts, **extra)
    if broker.sentinel is None:  # the config refuses a sentinel:// URL without a master name
        raise ValueError("a sentinel:// broker needs licmon.broker.sentinel.masterName")
    first = urlsplit(url.split(";", 1)[0].strip())
    node: dict[str, Any] = {
        "db": _db(first.path),
        "password": first.password,
        "username": first.username,
        **timeouts,
    }
    if uses_tls(broker, url):
        node |= {"connection_class": SentinelManagedSSLConnection, **ssl_options(broker.tls)}
    watcher = Sentinel(sentinels(url), sentinel_kwargs=_sentinel_kwargs(broker, url))
    return watcher.master_for(broker.sentinel.master_name, redis_class=redis.Redis, **node)


def _db(path: str) -> int:
    text = path.strip("/")
    return int(text) if text.isdigit() else 0


def where(broker: BrokerSettings) -> str:
    """The broker as messages name it, without any password: host:port/db, or the
    sentinels and the master's name."""
    url = broker.url.get_secret_value()
    if scheme(url) == "sentinel":
        listed = ", ".join(f"{host}:{port}" for host, port in sentinels(url))
        name = broker.sentinel.master_name if broker.sentinel else "?"
        return f"master {name!r} of the sentinels {listed}"
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.hostname or '?'}{port}{parts.path or ''}"


def master_address(client: redis.Redis) -> tuple[str, int] | None:
    """The (host, port) a Sentinel client's pool names as the master now; None for a client
    of a plain Redis."""
    pool = client.connection_pool
    manager = getattr(pool, "sentinel_manager", None)
    name = getattr(pool, "service_name", None)
    if manager is None or name is None:
        return None
    host, port = manager.discover_master(name)
    return str(host), int(port)


def tls_problem(error: BaseException, broker: BrokerSettings) -> str | None:
    """What a failed connection says about the broker's certificate (or ours), naming the
    file to fix; None when it failed for another reason (Redis down: retried)."""
    reason = _certificate_reason(error)
    if reason is None:
        return None
    tls = broker.tls
    if "mismatch" in reason or "hostname" in reason.lower():
        return (
            "the broker's certificate does not name the host of licmon.broker.url (connect "
            f"by a name or address the certificate lists): {reason}"
        )
    if "certificate verify failed" in reason:
        source = (
            f"the CA file {str(tls.ca_file)!r} (licmon.broker.tls.caFile)"
            if tls is not None and tls.ca_file is not None
            else "the system's CA certificates (set licmon.broker.tls.caFile)"
        )
        return f"the broker's certificate is not trusted by {source}: {reason}"
    # TLS 1.3: the server checks the client's certificate after the handshake and, refusing
    # it (or its absence), closes the connection: the client reads an EOF, not an alert.
    closed = "eof occurred" in reason.lower()
    how = "closed the TLS connection after the handshake" if closed else "refused it"
    if tls is not None and tls.cert_file is not None:
        return (
            f"the broker {how}: it does not accept the client certificate "
            f"{str(tls.cert_file)!r} (licmon.broker.tls.certFile): {reason}"
        )
    return (
        f"the broker {how}: it asks for a client certificate "
        f"(set licmon.broker.tls.certFile and keyFile): {reason}"
    )


_CERTIFICATE_WORDS = (
    "certificate verify failed",
    "certificate required",
    "unknown ca",
    "bad certificate",
    "certificate unknown",
    "certificate expired",
    "eof occurred in violation of protocol",
)


def _certificate_reason(error: BaseException | None) -> str | None:
    """The TLS reason in `error` or what it wraps (redis-py wraps ssl errors in its
    ConnectionError, sometimes as text only)."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"certificate verify failed ({error.verify_message})"
        text = str(error).lower()
        for words in _CERTIFICATE_WORDS:
            if words in text:
                return _short(str(error))
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def _short(text: str) -> str:
    return text.split(" (_ssl.c", 1)[0].strip()[:200]
