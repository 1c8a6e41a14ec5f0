"""One Apprise notification to one URL: Teams (workflows://), Slack, email (mailto://), and
every other service Apprise knows.

The URL is a secret: tokens sit in its path (Slack, Teams, Discord), passwords in its
userinfo (mailto://), and for many schemes even the "host" is a token (slack://TokenA/...).
So a target is named by its key and scheme only (`apprise-1 (mailto://…)`), and Apprise's
own logging is held back (see `_guard`).

Apprise is imported on first use, not with this module: it costs about 0.2 s and 40 MB
once its plugins are loaded, which a deployment without Apprise should not pay.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus

from pydantic import SecretStr

from licmon.resources import current
from licmon.senders.errors import PermanentDeliveryError, TransientDeliveryError

__all__ = ["AppriseTarget", "send_apprise", "target_name", "understands"]

DESTINATION = "apprise"
# Every Apprise module and plugin logs through this one logger (apprise/logger.py).
APPRISE_LOGGER = "apprise"
# Why WARNING: below it, Apprise prints secrets. At TRACE (DEBUG - 1) it unpacks the whole
# URL, password included; at DEBUG it prints the request URL with its path ("JSON POST URL:
# http://host/hook/<token>") and "Socket Exception: ..." texts that quote the URL and its
# query; at INFO it names every email recipient. Its warnings say what failed and where
# (host, recipient); `_Guard` masks the URL's parts in them all the same.
APPRISE_LEVEL = logging.WARNING
# The HTTP plugins send through requests, whose urllib3 logs the request path and query at
# DEBUG ("POST /hook/<token>?key=... HTTP/1.1"). Its level is the operator's (webhooks log
# through it too), so during an Apprise send its records are only masked.
_MASKED_TOO = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")
# URL parts shorter than this are not masked: replacing "ab" everywhere would garble the
# message and hide nothing.
_MIN_SECRET = 3


@dataclass(frozen=True)
class AppriseTarget:
    """One Apprise URL. `key` names it in task arguments; the URL never leaves config."""

    key: str  # e.g. "apprise-1": the 1-based position in `licmon.apprise.urls`
    url: SecretStr
    tags: tuple[str, ...]
    send_recurring: bool
    send_alert: bool
    timeout: float


def target_name(target: AppriseTarget) -> str:
    """What errors and logs call an Apprise URL: its key and scheme, nothing else."""
    return f"{target.key} ({_scheme(target.url.get_secret_value())}://…)"


def understands(url: str) -> bool:
    """True when Apprise can build a notification service from `url`. Logs nothing."""
    with _guard(url, silent=True, label=""):
        try:
            return _instantiate(url, ()) is not None
        except Exception:  # Apprise's parsing is meant to return None; be sure of it
            return False


def send_apprise(target: AppriseTarget, title: str, body: str, *, alert: bool) -> None:
    """Send one notification. Raises TransientDeliveryError or PermanentDeliveryError."""
    from apprise import NotifyType

    name = target_name(target)
    url = target.url.get_secret_value()
    with _guard(url, silent=True, label=name):
        service = _instantiate(url, target.tags)
    if service is None:
        # Checked when the config was loaded; only a different Apprise could get here.
        raise PermanentDeliveryError(DESTINATION, name, "Apprise does not understand this URL")
    # Apprise bounds each socket step by these (4 s by default, 15 s to connect to SMTP);
    # one configured bound, as every other sender has, keeps a task within its time limit.
    service.socket_connect_timeout = target.timeout
    service.socket_read_timeout = target.timeout
    kind = NotifyType.WARNING if alert else NotifyType.INFO
    with _guard(url, silent=False, label=name):
        try:
            sent = service.notify(body=body, title=title, notify_type=kind)
        except Exception as exc:
            # Plugins report failures by returning False; one that raises instead is treated
            # like any unexpected network failure. `from None`: its text may quote the URL.
            raise TransientDeliveryError(
                DESTINATION, name, f"Apprise raised {type(exc).__name__}"
            ) from None
    if not sent:
        # notify() says only True or False; its reason is in Apprise's warning, logged
        # (masked) just before. Unreachable, slow and refusing services all land here, so
        # the failure counts as transient and Celery retries it.
        raise TransientDeliveryError(
            DESTINATION,
            name,
            f"not sent: unreachable, no answer within {target.timeout:g} s, or refused "
            "(Apprise's warning in the worker log says which)",
        )


def _instantiate(url: str, tags: tuple[str, ...]) -> Any:
    from apprise import Apprise

    return Apprise.instantiate(url, tag=list(tags) or None)


def _scheme(url: str) -> str:
    scheme, found, _ = url.strip().partition("://")
    return scheme.lower() if found and scheme.isalnum() else "?"


# --- keeping Apprise's logging free of the URL ---------------------------------------------


@dataclass(frozen=True)
class _Guarding:
    silent: bool
    parts: tuple[str, ...]
    # Which target a record is about: Apprise's own messages cannot say, once masked.
    label: str


_GUARDING: contextvars.ContextVar[_Guarding | None] = contextvars.ContextVar(
    "licmon_apprise_guarding", default=None
)


class _Guard(logging.Filter):
    """On the `apprise` logger and urllib3's; acts only inside `_guard`, in its own thread.

    While a URL is being parsed, every record is dropped: parse errors quote the URL (masked
    only by Apprise's guesswork) and plugin constructors quote bad tokens ("An invalid Slack
    (first) Token (...) was specified"); we report a bad URL ourselves, by key path. While
    one is being sent, the URL's parts are masked in what gets through, and no traceback is
    attached (its text may hold the URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        guarding = _GUARDING.get()
        if guarding is None:
            return True
        if guarding.silent:
            return False
        message = record.getMessage()
        for part in guarding.parts:
            message = message.replace(part, "…")
        record.msg, record.args = f"{guarding.label}: {message}", ()
        record.exc_info, record.exc_text = None, None
        return True


# One filter object for the process's lifetime, kept by a forked child too: it is attached
# to loggers, which the child inherits, and a second one would be added beside it.
_FILTER = _Guard()


@contextlib.contextmanager
def _guard(url: str, *, silent: bool, label: str) -> Iterator[None]:
    logger = logging.getLogger(APPRISE_LOGGER)
    with current().apprise_setup:  # threads pool: two first sends must not add the filter twice
        # Asserted on every use, not once: a logging configuration applied later (Celery's,
        # an operator's) may have lowered it.
        if logger.level < APPRISE_LEVEL:
            logger.setLevel(APPRISE_LEVEL)
        for guarded in (logger, *map(logging.getLogger, _MASKED_TOO)):
            # A logger's filters see only its own records, not its children's: each is named.
            if _FILTER not in guarded.filters:
                guarded.addFilter(_FILTER)
    token = _GUARDING.set(_Guarding(silent=silent, parts=_secret_parts(url), label=label))
    try:
        yield
    finally:
        _GUARDING.reset(token)


def _secret_parts(url: str) -> tuple[str, ...]:
    """The URL and each of its parts but the scheme, as written and unquoted, longest first
    (so that a part holding another is masked whole). Plain string splitting: an Apprise URL
    need not be one that urllib parses (slack://TokenA/TokenB/TokenC has a token for host)."""
    text = url.strip()
    rest = text.partition("://")[2].split("#", 1)[0]
    address, _, query = rest.partition("?")
    netloc, _, path = address.partition("/")
    userinfo, _, hostport = netloc.rpartition("@")
    pieces = [text, rest, address, netloc, path, query, hostport, hostport.rsplit(":", 1)[0]]
    pieces += userinfo.split(":", 1) + path.split("/")
    for pair in query.split("&"):
        pieces += [pair, pair.partition("=")[2]]
    found = {url}
    for piece in pieces:
        found |= {piece, unquote(piece), unquote_plus(piece)}
    return tuple(
        sorted((part for part in found if len(part) >= _MIN_SECRET), key=len, reverse=True)
    )
