"""Reading a configuration file: YAML, the environment's secrets, the schema, the settings.

Every problem, from any step, goes through one `Problems` sink and is raised together as
one `ConfigError`, so an administrator fixes the file in one pass instead of one error per
restart.

Secret environment variables (each destination declares its own in `env_secrets`):
  LICMON_INFLUXDB_USERNAME, LICMON_INFLUXDB_PASSWORD   InfluxDB 1.x credentials
  LICMON_INFLUXDB_TOKEN                                InfluxDB 2.x/3.x token
  LICMON_MQTT_USERNAME, LICMON_MQTT_PASSWORD           MQTT broker credentials
  LICMON_STATUS_WEBHOOK_URL_<N>, LICMON_ALERT_WEBHOOK_URL_<N>   webhook URLs (1-based)
  LICMON_APPRISE_URL_<N>                               Apprise URLs (1-based)
  LICMON_BROKER_URL, LICMON_RESULT_BACKEND             Celery broker and result backend
  LICMON_BROKER_SENTINEL_PASSWORD                      the Redis sentinels' own password
  LICMON_BROKER_SENTINEL_MASTER_NAME                   the master's name (not a secret)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from licmon.config.alerts import build_alerts
from licmon.config.broker import build_broker
from licmon.config.build import Build
from licmon.config.env import EnvOverlay
from licmon.config.errors import ConfigError, Problem, Problems, cap, clean_key
from licmon.config.keys import check_secret_text, check_unknown_keys, secret_paths
from licmon.config.model import (
    BeatSettings,
    BrokerSettings,
    MonitorConfig,
    RetryPolicy,
    Site,
    TimeLimits,
)
from licmon.config.reading import ReadError, parse_yaml, read_config_text
from licmon.config.reliability import check_visibility, time_limits
from licmon.config.schema import document_model
from licmon.config.sites import build_sites
from licmon.core.dates import DateOrder
from licmon.registry import Registry


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    plugins: Registry,
) -> MonitorConfig:
    """Load `path` (or $LICMON_CONFIG) for `plugins` (licmon.plugins assembles them).
    Raises ConfigError listing every problem."""
    env = os.environ if env is None else env
    if path is None:
        path = env.get("LICMON_CONFIG")
        if not path:
            raise ConfigError(None, [Problem("", "no config file: use --config or LICMON_CONFIG")])
    source = Path(path)
    try:
        text = read_config_text(source)
    except ReadError as exc:
        _refuse(source, exc)
    return load_config_text(text, source=source, env=env, plugins=plugins)


def load_config_text(
    text: str,
    source: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    plugins: Registry,
) -> MonitorConfig:
    env = os.environ if env is None else env
    raw = _parse_yaml(text, source)
    overlay = EnvOverlay(raw, env)
    overlay.put("LICMON_BROKER_URL", "licmon", "broker", "url")
    overlay.put("LICMON_RESULT_BACKEND", "licmon", "broker", "resultBackend")
    overlay.put("LICMON_BROKER_SENTINEL_PASSWORD", "licmon", "broker", "sentinel", "password")
    # Not a secret: from the environment too, so one config file serves both layouts.
    overlay.put("LICMON_BROKER_SENTINEL_MASTER_NAME", "licmon", "broker", "sentinel", "masterName")
    for plugin in (*plugins.destinations, *plugins.kinds):
        plugin.env_secrets(overlay)

    model = document_model(plugins)
    problems = Problems(secret_paths=secret_paths(model))
    document: Any = None
    try:
        document = model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            _report(problems, error, raw, overlay.variables)
    # Our own section has no keys of other tools: one we do not know is a typo.
    check_unknown_keys(raw, model, "licmon", problems)
    check_secret_text(raw, model, problems, overlay.variables)
    problems.raise_if_any(source)
    assert document is not None  # pydantic reports at least one error when it fails

    base_dir = source.parent if source is not None else Path.cwd()
    build = Build(document=document, base_dir=base_dir, problems=problems)
    sites = build_sites(document, build, plugins)
    build.site_count = len(sites)
    # A kind no site uses delivers nothing, and its switches are not read (a Butler file
    # with a disabled monitor must load as before, whatever its destination says); the
    # default kind's always are (`licmon check` and the tools use them).
    used = {name for site in sites for name, _ in site.checks} | {plugins.default_kind.name}
    per_kind = {
        kind.name: {
            destination.name: destination.settings(document, build.for_kind(kind))
            for destination in plugins.destinations
        }
        for kind in plugins.kinds
        if kind.name in used
    }
    ours = document.licmon
    retries = ours.retries
    policy = RetryPolicy(
        quick_attempts=retries.quickAttempts,
        quick_window_seconds=retries.quickWindowSeconds,
        retries=retries.retries,
        backoff_seconds=retries.backoffSeconds,
        backoff_max_seconds=retries.backoffMaxSeconds,
    )
    limits = _time_limits(document, policy, plugins, sites)
    alerts = build_alerts(ours.alerts, build, plugins.templates(), plugins.template_fields())
    check_visibility(ours.broker.visibilityTimeoutSeconds, policy, limits, problems)
    connection = build_broker(ours.broker, build, zoned=any(site.zone for site in sites))
    problems.raise_if_any(source)
    return MonitorConfig(
        sites=sites,
        destinations={
            kind: {name: value for name, value in each.items() if value is not None}
            for kind, each in per_kind.items()
        },
        date_order=DateOrder(ours.dateOrder),
        retry=policy,
        broker=BrokerSettings(
            url=connection.url,
            result_backend=connection.result_backend,
            task_events=ours.broker.taskEvents,
            visibility_timeout=ours.broker.visibilityTimeoutSeconds,
            require_persistence=ours.broker.requirePersistence,
            time_limits=limits,
            tls=connection.tls,
            sentinel=connection.sentinel,
        ),
        beat=BeatSettings(lease_seconds=ours.beat.leaseSeconds),
        alerts=alerts,
        source=source,
        warnings=tuple(problems.warnings),
        plugins=plugins,
        kind_settings={kind.name: kind.own_settings(document) for kind in plugins.kinds},
    )


def _time_limits(
    document: Any, policy: RetryPolicy, plugins: Registry, sites: tuple[Site, ...]
) -> TimeLimits:
    """The tasks' time limits: a check is one call of its site's budget, a connect and a
    read (`licmon.timeouts.qrs*`, or a kind's own for its sites, e.g. a tenant's `timeout`),
    a delivery one call bounded by its destination's timeout."""
    timeouts = document.licmon.timeouts
    qrs_call = max(
        [float(timeouts.qrsConnect) + float(timeouts.qrsRead)]
        + [site.connect_timeout + site.read_timeout for site in sites]
    )
    deliveries = [
        float(getattr(timeouts, destination.schema.timeout[0]))
        for destination in plugins.destinations
        if destination.schema.timeout is not None
    ]
    return time_limits(qrs_call, deliveries, policy)


def _parse_yaml(text: str, source: Path | None) -> dict[str, Any]:
    try:
        raw = parse_yaml(text)
    except ReadError as exc:
        _refuse(source, exc)
    if not isinstance(raw, dict) or not ({"Butler", "licmon"} & raw.keys()):
        problems = Problems()
        problems.add(
            "",
            "expected a Butler config (root key 'Butler') or a licmon config (root key 'licmon')",
            raw,
        )
        problems.raise_if_any(source)
    return raw


def _refuse(source: Path | None, error: ReadError) -> NoReturn:
    # Through the one sink: a YAML message may quote a tag or a value of the file.
    problems = Problems()
    problems.add(error.where, cap(str(error), 300))
    problems.raise_if_any(source)
    raise AssertionError("unreachable")


def _key_path(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{clean_key(part)}" if path else clean_key(part)
    return path


def _value_at(raw: Any, location: tuple[Any, ...]) -> tuple[bool, Any]:
    for part in location:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, raw


def _report(
    problems: Problems,
    error: Mapping[str, Any],
    raw: Mapping[str, Any],
    variables: Mapping[tuple[Any, ...], str],
) -> None:
    # Pydantic appends the validator's name for function validators; drop it from the path.
    location = tuple(
        part
        for part in error["loc"]
        if not (isinstance(part, str) and part.startswith("function-"))
    )
    if error["type"] == "missing":
        problems.add(_key_path(location), "required, but missing")
        return
    message = error["msg"] if error["type"] == "expected" else _plain(error)
    variable = variables.get(location)
    if variable is not None:
        # The value came from the environment: name the variable, never echo its value.
        problems.add(variable, message)
        return
    found, value = _value_at(raw, location)
    if found:
        problems.add(_key_path(location), message, value)
    else:
        problems.add(_key_path(location), message)


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
