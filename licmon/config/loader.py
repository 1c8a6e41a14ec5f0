"""Reading a configuration file: YAML, then the schema, then the environment's secrets.

Every problem is collected and raised together as one `ConfigError`, so an administrator
fixes the file in one pass instead of one error per restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from licmon.config.errors import ConfigError, Problem
from licmon.config.model import MonitorConfig
from licmon.config.normalise import build_monitor_config
from licmon.config.schema import Document

# Values under these keys are never echoed back in an error.
_SECRET_KEYS = {"password", "token", "webhookURL", "url", "resultBackend"}


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> MonitorConfig:
    """Load `path` (or $LICMON_CONFIG). Raises ConfigError listing every problem."""
    env = os.environ if env is None else env
    if path is None:
        path = env.get("LICMON_CONFIG")
        if not path:
            raise ConfigError(None, [Problem("", "no config file: use --config or LICMON_CONFIG")])
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [Problem("", f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError(source, [Problem("", "the file is not UTF-8 text")]) from None
    return load_config_text(text, source=source, env=env)


def load_config_text(
    text: str, source: Path | None = None, env: Mapping[str, str] | None = None
) -> MonitorConfig:
    env = os.environ if env is None else env
    raw = _parse_yaml(text, source)
    try:
        document = Document.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, [_problem(error, raw) for error in exc.errors()]) from None
    base_dir = source.parent if source is not None else Path.cwd()
    config, problems = build_monitor_config(document, base_dir=base_dir, env=env, source=source)
    if problems:
        raise ConfigError(source, problems)
    return config


def _parse_yaml(text: str, source: Path | None) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError(source, [Problem(where, f"YAML syntax error: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [Problem("", f"YAML syntax error: {exc}")]) from None
    if not isinstance(raw, dict) or not ({"Butler", "licmon"} & raw.keys()):
        found = type(raw).__name__ if not isinstance(raw, dict) else sorted(raw)
        raise ConfigError(
            source,
            [
                Problem(
                    "",
                    "expected a Butler config (root key 'Butler') or a licmon config "
                    f"(root key 'licmon'), got {found}",
                )
            ],
        )
    return raw


def _key_path(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _value_at(raw: Any, location: tuple[Any, ...]) -> tuple[bool, Any]:
    for part in location:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, raw


def _problem(error: Mapping[str, Any], raw: Mapping[str, Any]) -> Problem:
    # Pydantic appends the validator's name for function validators; drop it from the path.
    location = tuple(
        part
        for part in error["loc"]
        if not (isinstance(part, str) and part.startswith("function-"))
    )
    path = _key_path(location)
    if error["type"] == "missing":
        return Problem(path, "required, but missing")
    message = error["msg"] if error["type"] == "expected" else _plain(error)
    found, value = _value_at(raw, location)
    if found and not (location and location[-1] in _SECRET_KEYS):
        message += f", got {value!r}"
    return Problem(path, message)


def _plain(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "model_type" or kind == "dict_type":
        return "expected a mapping of keys"
    if kind == "list_type":
        return "expected a list"
    if kind == "literal_error":
        return "expected " + error["msg"].removeprefix("Input should be ")
    if kind in ("string_type", "str_type"):
        return "expected text"
    return error["msg"][0].lower() + error["msg"][1:]
