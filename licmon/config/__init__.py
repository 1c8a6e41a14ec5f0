"""Configuration: Butler's YAML (and our multi-site extension) loaded into a validated model."""

from licmon.config.errors import ConfigError, Problem
from licmon.config.loader import load_config, load_config_text
from licmon.config.model import BrokerSettings, MonitorConfig, RetryPolicy, Site
from licmon.core.dates import DateOrder

__all__ = [
    "BrokerSettings",
    "ConfigError",
    "DateOrder",
    "MonitorConfig",
    "Problem",
    "RetryPolicy",
    "Site",
    "load_config",
    "load_config_text",
]
