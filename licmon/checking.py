"""One check of one site, outside Celery: a kind's data source feeding its evaluation.

Shared by `licmon check` and the fetch task so that both read a site the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from licmon.checks.base import CheckKind, Connections
from licmon.config.model import MonitorConfig, Site
from licmon.core.source import SourceError


def check_site(
    kind: CheckKind,
    site: Site,
    connections: Connections,
    checked_at: datetime,
    config: MonitorConfig,
) -> Any:
    """Fetch and judge; a source that cannot be read becomes the kind's failed status,
    with the reason."""
    try:
        answer = kind.fetch(site, connections)
    except SourceError as exc:
        return kind.failed(site, checked_at, str(exc))
    return kind.evaluate(site, answer, checked_at, config)
