"""The one place that assembles the plug-ins: every check kind and every destination.

Adding a kind is its module under `licmon/checks/` and a line in `KINDS`; adding a
destination is its module under `licmon/destinations/` and a line in `DESTINATIONS`.
Nothing else names either: the config loader, the CLI, the exporter, beat and the tasks
receive them from here (the loader puts them in `MonitorConfig.plugins`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from licmon.checks.access_license import ACCESS_LICENSE
from licmon.checks.certificate.kind import CERTIFICATE
from licmon.checks.qlik_cloud.kind import QLIK_CLOUD
from licmon.checks.server_license import SERVER_LICENSE
from licmon.config import loader
from licmon.config.model import MonitorConfig
from licmon.destinations.apprise import AppriseDestination
from licmon.destinations.influxdb import InfluxDbDestination
from licmon.destinations.mqtt import MqttDestination
from licmon.destinations.webhook import WebhookDestination
from licmon.registry import Registry

# The first is the default kind (`licmon check` without `--kind`).
KINDS = (
    SERVER_LICENSE,
    ACCESS_LICENSE,
    CERTIFICATE,
    QLIK_CLOUD,
)
DESTINATIONS = (
    InfluxDbDestination(),
    MqttDestination(),
    WebhookDestination(),
    AppriseDestination(),
)
PLUGINS = Registry(kinds=KINDS, destinations=DESTINATIONS)


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    plugins: Registry = PLUGINS,
) -> MonitorConfig:
    """`licmon.config.loader.load_config` with the registered plug-ins."""
    return loader.load_config(path, env, plugins=plugins)


def load_config_text(
    text: str,
    source: Path | None = None,
    env: Mapping[str, str] | None = None,
    plugins: Registry = PLUGINS,
) -> MonitorConfig:
    return loader.load_config_text(text, source=source, env=env, plugins=plugins)
