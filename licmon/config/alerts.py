"""`licmon.alerts`: the alert policy's settings and the message templates.

Left out entirely, alerts behave as Butler's: every check at or below `thresholdDays`
alerts. `thresholdsDays` turns on one alert per level crossed (licmon/core/license_alerts.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import create_model

from licmon.config.build import Build
from licmon.config.fields import AlertHours, FailureCount, LaterText, Text, ThresholdLevels
from licmon.config.model import AlertSettings
from licmon.config.sections import Section
from licmon.core import templates
from licmon.core.templates import MessageTemplate


class TemplateSection(Section):
    """Any of the three may be left out: the default stays."""

    text: Text | None = None
    title: Text | None = None
    body: Text | None = None


class AlertsBase(Section):
    """`licmon.alerts`, less its templates (`alerts_section` adds them)."""

    thresholdsDays: ThresholdLevels | None = None
    repeatExpiredHours: AlertHours = 24
    checkFailures: FailureCount = 3
    # A later.js schedule of the daily digest; none: no digest.
    digest: LaterText | None = None


def alerts_section(defaults: Mapping[str, MessageTemplate]) -> type[Section]:
    """`licmon.alerts` with one `templates.<name>` per message that has a default (the
    common ones and every check kind's own)."""
    chosen = create_model(
        "Templates",
        __base__=Section,
        **{name: (TemplateSection, TemplateSection()) for name in defaults},
    )
    return create_model("AlertsSection", __base__=AlertsBase, templates=(chosen, chosen()))


def build_alerts(
    section: Any,
    build: Build,
    defaults: Mapping[str, MessageTemplate],
    fields: Mapping[str, str],
) -> AlertSettings:
    chosen: dict[str, MessageTemplate] = {}
    for name, default in defaults.items():
        given = getattr(section.templates, name)
        parts = {}
        for part in ("text", "title", "body"):
            value = getattr(given, part)
            if value is None:
                parts[part] = getattr(default, part)
                continue
            for problem in templates.problems(value, fields):
                build.problem(f"licmon.alerts.templates.{name}.{part}", problem, value)
            parts[part] = value
        chosen[name] = MessageTemplate(**parts)
    return AlertSettings(
        levels=tuple(sorted(set(section.thresholdsDays or ()), reverse=True)),
        repeat_expired_seconds=section.repeatExpiredHours * 3600.0,
        check_failures=section.checkFailures,
        digest=section.digest,
        templates=chosen,
    )
