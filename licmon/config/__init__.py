"""Configuration: Butler's YAML (and our multi-site extension) loaded into a validated model."""

from licmon.config.errors import ConfigError, Problem
from licmon.config.loader import load_config, load_config_text
from licmon.config.model import (
    DateOrder,
    InfluxSettings,
    MonitorConfig,
    MqttSettings,
    MqttTls,
    RetryPolicy,
    Site,
    WebhookTarget,
)

__all__ = [
    "ConfigError",
    "DateOrder",
    "InfluxSettings",
    "MonitorConfig",
    "MqttSettings",
    "MqttTls",
    "Problem",
    "RetryPolicy",
    "Site",
    "WebhookTarget",
    "load_config",
    "load_config_text",
]
