"""The QRS as a data source, for the kinds that read it (server and access licenses): one
client per site, kept between checks while the site is among the most recently checked of
the process (its TLS connection reused by frequent checks, never piling up).

The client is imported when a check first runs: it brings requests and urllib3 (about 6 MB
resident), which beat, importing every kind for its schedules, never uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from licmon.checks.base import Connections
    from licmon.config.model import Site
    from licmon.qrs.client import QrsClient, QrsEndpoint

# QRS clients a process keeps (each holds at most one idle TLS connection).
QRS_CLIENTS_KEPT = 32


def endpoint_for(site: Site) -> QrsEndpoint:
    from licmon.qrs.client import QrsEndpoint

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


def qrs_client(site: Site, connections: Connections) -> QrsClient:
    """The site's QRS client, kept in `connections`."""
    from licmon.qrs.client import QrsClient

    return connections.recent(
        ("qrs", site), lambda: QrsClient(endpoint_for(site)), keep=QRS_CLIENTS_KEPT
    )
