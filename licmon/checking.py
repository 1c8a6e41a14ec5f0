"""One check of one site, outside Celery: the QRS adapter feeding a check kind.

Shared by `licmon check` and the fetch task so that both read a site the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from licmon.checks import CheckKind
from licmon.config.model import MonitorConfig, Site
from licmon.core.source import SourceError
from licmon.qrs.client import QrsClient, QrsEndpoint


def endpoint_for(site: Site) -> QrsEndpoint:
    return QrsEndpoint(
        site=site.name,
        host=site.host,
        port=site.port,
        use_ssl=site.use_ssl,
        client_cert=site.client_cert,
        client_key=site.client_key,
        root_ca=site.root_ca,
        verify_hostname=site.verify_hostname,
        reject_unauthorized=site.reject_unauthorized,
        headers=dict(site.headers),
        connect_timeout=site.connect_timeout,
        read_timeout=site.read_timeout,
    )


def check_site(
    kind: CheckKind, site: Site, client: QrsClient, checked_at: datetime, config: MonitorConfig
) -> Any:
    """Fetch and judge; a QRS failure becomes the kind's failed status, with the reason."""
    try:
        answer = kind.fetch(client)
    except SourceError as exc:
        return kind.failed(site, checked_at, str(exc))
    return kind.evaluate(site, answer, checked_at, config)
