"""One license check of one site: the QRS adapter feeding the pure core.

Shared by `licmon check` and the Celery fetch task so that both judge a license the same way.
"""

from __future__ import annotations

from datetime import datetime

from licmon.config.model import DateOrder, Site
from licmon.core.status import LicenseStatus, evaluate_license, failed_status
from licmon.qrs.client import QrsClient, QrsEndpoint
from licmon.qrs.errors import QrsError


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


def judge(site: Site, answer: dict, checked_at: datetime, date_order: DateOrder) -> LicenseStatus:
    return evaluate_license(site.name, answer, checked_at, site.threshold_days, date_order)


def check_site(
    site: Site, client: QrsClient, checked_at: datetime, date_order: DateOrder
) -> LicenseStatus:
    """Fetch and judge; a QRS failure becomes an `unknown` status carrying the reason."""
    try:
        answer = client.get_license()
    except QrsError as exc:
        return failed_status(site.name, checked_at, site.threshold_days, str(exc))
    return judge(site, answer, checked_at, date_order)
