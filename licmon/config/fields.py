"""Field types that say what they expected, in the words an administrator reads.

Pydantic's own messages name Python types ("Input should be a valid integer"); ours name
the thing wanted ("expected a whole number >= 0"), and the loader adds the value found.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


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
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
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


def _http_url(value: Any) -> str:
    text = _text(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The value may hold a token: say what is wrong without echoing it back.
        raise _expected("an http:// or https:// URL with a host name")
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
    if not text:
        raise _expected("a file path")
    return Path(text).expanduser()


def _site_name(value: Any) -> str:
    text = _text(value).strip()
    # Site names end up in task names, Redis keys, MQTT topics and InfluxDB tags.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", text):
        raise _expected("a site name of letters, digits, '.', '_' or '-' (at most 63)")
    return text


WholeNumber = Annotated[int, _whole_number()]
NonNegative = Annotated[int, _whole_number(minimum=0)]
Port = Annotated[int, _whole_number(minimum=1, maximum=65535)]
QoS = Annotated[int, _whole_number(minimum=0, maximum=2)]
Switch = Annotated[bool, BeforeValidator(_switch)]
Text = Annotated[str, BeforeValidator(_text)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
HttpMethod = Annotated[str, BeforeValidator(_http_method)]
InfluxVersion = Annotated[int, BeforeValidator(_influx_version)]
FilePath = Annotated[Path, BeforeValidator(_file_path)]
SiteName = Annotated[str, BeforeValidator(_site_name)]


def _seconds(maximum: float | None = None) -> BeforeValidator:
    what = "a number of seconds > 0" + (f" and <= {maximum:g}" if maximum is not None else "")

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _expected(what)
        try:
            seconds = float(value)
        except ValueError:
            raise _expected(what) from None
        if seconds <= 0 or (maximum is not None and seconds > maximum):
            raise _expected(what)
        return seconds

    return BeforeValidator(check)


Seconds = Annotated[float, _seconds()]
# Quick retries run inside a task and must end well within its soft time limit.
QuickWindow = Annotated[float, _seconds(maximum=30)]
# Celery countdowns must stay below the broker's visibility timeout (worker/settings.py).
Backoff = Annotated[float, _seconds(maximum=1800)]
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
            {"position": exc.position, "reason": exc.reason, "caret": exc.caret_message()},
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


LaterText = Annotated[str, BeforeValidator(_later_text)]
