"""Field types that say what they expected, in the words an administrator reads.

Pydantic's own messages name Python types ("Input should be a valid integer"); ours name
the thing wanted ("expected a whole number >= 0"), and the loader adds the value found.
"""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from licmon.config.errors import cap, has_controls
from licmon.core.text import mqtt_topic_problem


def _expected(what: str) -> PydanticCustomError:
    return PydanticCustomError("expected", "expected {what}", {"what": what})


def _whole_number(minimum: int | None = None, maximum: int | None = None) -> BeforeValidator:
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    what = "a whole number" + (" " + " and ".join(bounds) if bounds else "")

    def check(value: Any) -> int:
        # At most 18 digits: int() of a longer text costs time, and no bound here is larger.
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _expected(what)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise _expected(what)
        return value

    return BeforeValidator(check)


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _expected("true or false")


def _text(value: Any) -> str:
    # YAML turns `value: 42` into a number; a tag or header value is still text to us.
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise _expected("text")
    return str(value)


_NO_CONTROLS = (
    "without control characters (a line break, tab or escape; often a newline pasted "
    "at the end of a secret)"
)


def _clean_text(value: Any, what: str = "text") -> str:
    """Text that goes on the wire (a header, a URL, a credential): no control characters.

    A token with a trailing newline passes as text, then fails in the HTTP library with
    an error that quotes the header, token included, into logs and dead letters.
    """
    text = _text(value)
    if has_controls(text):
        raise _expected(f"{what} {_NO_CONTROLS}")
    return text


def _secret_text(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return _clean_text(value, "a secret")


def _http_url(value: Any) -> str:
    # The value may hold a token: say what is wrong without echoing it back.
    text = _clean_text(value, "an http:// or https:// URL").strip()
    # urlsplit quietly drops tabs and newlines, which is why they are refused above.
    parts = urlsplit(text)
    try:
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        hostname = None
    if parts.scheme not in ("http", "https") or not hostname or check_host(hostname):
        raise _expected("an http:// or https:// URL with a host name")
    return text


def _service_url(value: Any) -> str:
    """Celery's broker or result backend: `scheme://...`, no control characters."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    text = _clean_text(value, "a URL such as redis://host:6379/0").strip()
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text):
        raise _expected("a URL such as redis://host:6379/0")
    return text


_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
HOST_EXPECTED = (
    "a host name or IP address, without scheme, port or path (labels of letters, digits "
    "and '-', each at most 63 characters, at most 253 in all)"
)


# An IPv6 zone id as an interface name (Linux: at most 15 characters; Windows: a number).
# `ipaddress` takes anything after `%` but `/` and `%`: a newline, an escape code, `#`, `|`,
# which the Butler site, named after its host, would then carry into logs, tables, MQTT
# topics, headers and Prometheus series.
_ZONE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")


def check_host(text: str) -> str | None:
    """What is wrong with `text` as a host name or IP address, or None."""
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    address, percent, zone = candidate.partition("%")
    if percent:
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return f"expected {HOST_EXPECTED}"
        if not _ZONE.fullmatch(zone):
            return (
                f"expected {HOST_EXPECTED}; an IPv6 zone id after '%' is an interface name "
                "(letters, digits, '_', '.' or '-', at most 15)"
            )
        return None
    try:
        ipaddress.ip_address(candidate)
        return None
    except ValueError:
        pass
    name = text.removesuffix(".")
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(part) for part in name.split(".")):
        return f"expected {HOST_EXPECTED}"
    return None


def host_site_name(host: str) -> str:
    """The name of a site known by its host alone (Butler's): the host, a zone id's `%`
    written `%25` as in a URL (RFC 6874), so the name is what one types in a browser and
    holds nothing but letters, digits and `.:_-%` (check_host)."""
    return host.replace("%", "%25")


def _host(value: Any) -> str:
    text = _text(value).strip()
    if problem := check_host(text):
        raise PydanticCustomError("expected", problem)
    # An IPv6 literal is kept bare: the QRS client adds the brackets to its URL.
    return text[1:-1] if text.startswith("[") and text.endswith("]") else text


# RFC 9110 token characters.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")


def _header_name(value: Any) -> str:
    text = _text(value).strip()
    if not _HEADER_NAME.fullmatch(text):
        raise _expected("an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")
    return text


def _header_value(value: Any) -> str:
    text = _clean_text(value, "a header value")
    try:
        # http.client sends headers as Latin-1; anything else fails at the first request.
        text.encode("latin-1")
    except UnicodeEncodeError:
        raise _expected("a header value of Latin-1 characters") from None
    if len(text) > 8192:
        raise _expected("a header value of at most 8192 characters")
    return text


def _http_method(value: Any) -> str:
    method = _text(value).strip().upper()
    if method not in ("GET", "POST", "PUT"):
        raise _expected("GET, POST or PUT")
    return method


def _influx_version(value: Any) -> int:
    if value in (1, 2, 3) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip() in ("1", "2", "3"):
        return int(value)
    raise _expected("InfluxDB version 1, 2 or 3")


def _file_path(value: Any) -> Path:
    text = _text(value).strip()
    if not text or has_controls(text) or len(text) > 4096:
        raise _expected("a file path")
    return Path(text).expanduser()


def _site_name(value: Any) -> str:
    text = _text(value).strip()
    # Site names end up in task names, Redis keys, MQTT topics and InfluxDB tags.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", text):
        raise _expected("a site name of letters, digits, '.', '_' or '-' (at most 63)")
    return text


def _mqtt_topic(value: Any) -> str:
    """A topic to publish to, as MQTT allows it (licmon.core.text.mqtt_topic_problem):
    Mosquitto drops the connection of a client that sends anything else, and paho used to
    re-send the message on every reconnect."""
    text = _text(value)
    if mqtt_topic_problem(text):
        raise _expected(
            "an MQTT topic: 1 to 65535 bytes of UTF-8, without '+', '#' or control "
            "characters (NUL, a line break, an escape)"
        )
    return text


# InfluxDB 2 and 3 reserve these keys in line protocol; `time` is the timestamp column
# (3 and InfluxQL): a tag of that name makes every write fail.
_RESERVED_TAG_KEYS = frozenset({"time", "_measurement", "_field"})


def _tag_key(value: Any) -> str:
    text = _text(value).strip()
    what = (
        "an InfluxDB tag key: 1 to 256 characters, not 'time', '_measurement' or '_field', "
        "not ending in '\\', without control characters"
    )
    if (
        not text
        or len(text) > 256
        or text in _RESERVED_TAG_KEYS
        or text.endswith("\\")
        or has_controls(text)
    ):
        raise _expected(what)
    return text


# Every number has an upper bound: a value Redis, a socket or a date cannot take must be
# refused here, not fail at the first check.
NonNegative = Annotated[int, _whole_number(minimum=0, maximum=1_000_000_000)]
Port = Annotated[int, _whole_number(minimum=1, maximum=65535)]
QoS = Annotated[int, _whole_number(minimum=0, maximum=2)]
# Ten years: a license is renewed within that, and days are added to dates.
ThresholdDays = Annotated[int, _whole_number(minimum=0, maximum=3650)]
# The level policy's levels, days: at most a dozen.
ThresholdLevels = Annotated[list[ThresholdDays], Field(min_length=1, max_length=12)]
# licmon.alerts.repeatExpiredHours: at most a year.
AlertHours = Annotated[int, _whole_number(minimum=1, maximum=24 * 366)]
FailureCount = Annotated[int, _whole_number(minimum=1, maximum=100)]
# Butler's webhook rateLimit, seconds; 30 days.
RateLimit = Annotated[int, _whole_number(minimum=0, maximum=30 * 24 * 3600)]
# Butler's v3Config.writeTimeout, milliseconds; the same bound as every timeout.
Milliseconds = Annotated[int, _whole_number(minimum=0, maximum=120_000)]
Switch = Annotated[bool, BeforeValidator(_switch)]
Text = Annotated[str, BeforeValidator(_text)]
# Text sent on the wire as it is: no control characters.
CleanText = Annotated[str, BeforeValidator(_clean_text)]
Secret = Annotated[SecretStr, BeforeValidator(_secret_text)]
ServiceUrl = Annotated[SecretStr, BeforeValidator(_service_url)]
Host = Annotated[str, BeforeValidator(_host)]
HeaderName = Annotated[str, BeforeValidator(_header_name)]
HeaderValue = Annotated[str, BeforeValidator(_header_value)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
HttpMethod = Annotated[str, BeforeValidator(_http_method)]
InfluxVersion = Annotated[int, BeforeValidator(_influx_version)]
FilePath = Annotated[Path, BeforeValidator(_file_path)]
SiteName = Annotated[str, BeforeValidator(_site_name)]
MqttTopic = Annotated[str, BeforeValidator(_mqtt_topic)]
TagKey = Annotated[str, BeforeValidator(_tag_key)]


def _seconds(maximum: float) -> BeforeValidator:
    what = f"a number of seconds > 0 and <= {maximum:g}"

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _expected(what)
        if isinstance(value, str) and len(value) > 32:
            raise _expected(what)
        try:
            seconds = float(value)
        except (ValueError, OverflowError):
            raise _expected(what) from None
        # NaN compares false with everything, so it would pass both bounds below; .inf and
        # 1e999 (YAML reads it as infinity) would pass a missing one.
        if not math.isfinite(seconds) or seconds <= 0 or seconds > maximum:
            raise _expected(what)
        return seconds

    return BeforeValidator(check)


def _percent(value: Any) -> float:
    what = "a percentage >= 0 and <= 100"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _expected(what)
    if isinstance(value, str) and len(value) > 32:
        raise _expected(what)
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise _expected(what) from None
    if not math.isfinite(number) or not 0 <= number <= 100:  # NaN fails both bounds
        raise _expected(what)
    return number


Percent = Annotated[float, BeforeValidator(_percent)]
# A network call's timeout: the hard time limit of a task (worker/settings.py) is 120 s.
Seconds = Annotated[float, _seconds(maximum=120)]
# Quick retries run inside a task and must end well within its soft time limit.
QuickWindow = Annotated[float, _seconds(maximum=30)]
# Celery countdowns must stay below the broker's visibility timeout (worker/settings.py).
Backoff = Annotated[float, _seconds(maximum=1800)]
# How long Redis keeps an unacknowledged message from others: a day is already far too long
# for a lost worker's checks to wait.
VisibilityTimeout = Annotated[float, _seconds(maximum=86400)]
Attempts = Annotated[int, _whole_number(minimum=1, maximum=10)]
RetryCount = Annotated[int, _whole_number(minimum=0, maximum=20)]


def _later_text(value: Any) -> str:
    # Imported here: the engine is only needed when a config is validated.
    from licmon.laterjs import (
        LaterLimitError,
        LaterParseError,
        LaterScheduleError,
        parse_text,
        validate,
    )

    text = _text(value).strip()
    try:
        validate(parse_text(text))
    except LaterParseError as exc:
        raise PydanticCustomError(
            "expected",
            "expected a later.js schedule such as 'every 24 hours'; "
            "parsing stops at position {position} ({reason}):\n{caret}",
            {"position": exc.position, "reason": cap(exc.reason, 200), "caret": _window(exc)},
        ) from None
    except LaterLimitError as exc:
        raise PydanticCustomError(
            "expected",
            "expected a later.js schedule within this service's limits: {reason}",
            {"reason": str(exc)},
        ) from None
    except LaterScheduleError as exc:
        raise PydanticCustomError(
            "expected",
            "expected a later.js schedule that can run; later.js parses it but fails: {reason}",
            {"reason": str(exc)},
        ) from None
    return text


def _window(error: Any) -> str:
    """later.js's caret message, its text cut to 80 characters around the caret: the text
    is echoed, and a config error echoes at most that much of any value."""
    text, caret, reason = error.caret_message().rsplit("\n", 2)
    text, reason = text.replace("\n", " "), cap(reason, 200)
    column = len(caret) - 1
    if len(text) <= 80:
        return f"{text}\n{caret}\n{reason}"
    start = max(0, min(column - 40, len(text) - 80))
    shown = (
        ("…" if start else "") + text[start : start + 80] + ("…" if start + 80 < len(text) else "")
    )
    pad = " " * (column - start + (1 if start else 0))
    return f"{shown}\n{pad}^\n{reason}"


LaterText = Annotated[str, BeforeValidator(_later_text)]
