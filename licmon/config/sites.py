"""The sites to check: Butler's one `configQRS` site, or our `licmon.sites[]`.

Each check kind says which sites it checks and on which schedule (`site_frequency`), and
reads what it needs of a site's entry for itself (`site_settings`): the Butler site exists
when any kind is enabled.
"""

from __future__ import annotations

from typing import Any

from licmon.config.build import Build
from licmon.config.fields import host_site_name
from licmon.config.model import Site
from licmon.config.sections import pairs
from licmon.registry import Registry


def _checks(
    plugins: Registry, document: Any, entry: Any | None, build: Build, where: str
) -> dict[str, Any]:
    """(schedule, own settings) of every kind that checks the site of `entry`."""
    found = {}
    for kind in plugins.kinds:
        frequency = kind.site_frequency(document, entry)
        if frequency is not None:
            found[kind.name] = (frequency, kind.site_settings(document, entry, build, where))
    return found


def _kinds(found: dict[str, Any]) -> dict[str, Any]:
    return {
        "checks": tuple((name, frequency) for name, (frequency, _) in found.items()),
        "own": tuple((name, own) for name, (_, own) in found.items() if own is not None),
    }


def build_sites(document: Any, build: Build, plugins: Registry) -> tuple[Site, ...]:
    """The QRS sites (listed, or Butler's), then each kind's own (its tenants)."""
    sites = _qrs_sites(document, build, plugins)
    taken = {site.name for site in sites}
    for kind in plugins.kinds:
        own = kind.own_sites(document, build, taken)
        taken |= {site.name for site in own}
        sites += own
    return sites


def _qrs_sites(document: Any, build: Build, plugins: Registry) -> tuple[Site, ...]:
    butler, ours = document.Butler, document.licmon
    timeouts = ours.timeouts
    timing = {"connect_timeout": timeouts.qrsConnect, "read_timeout": timeouts.qrsRead}
    if ours.sites is not None:
        sites = []
        for index, entry in enumerate(ours.sites):
            if not entry.enable:
                continue
            where = f"licmon.sites[{index}]"
            cert = entry.cert
            client_cert, client_key = build.certificate_pair(
                f"{where}.cert.clientCert",
                cert.clientCert,
                f"{where}.cert.clientCertKey",
                cert.clientCertKey,
                "client",
            )
            _warn_insecure(build, where, entry.useSSL, entry.rejectUnauthorized)
            sites.append(
                Site(
                    name=entry.name,
                    host=entry.host,
                    port=entry.port,
                    client_cert=client_cert or cert.clientCert,
                    client_key=client_key or cert.clientCertKey,
                    root_ca=build.ca_file(
                        f"{where}.cert.clientCertCA", cert.clientCertCA, "root CA"
                    ),
                    use_ssl=entry.useSSL,
                    verify_hostname=entry.verifyHostname,
                    reject_unauthorized=entry.rejectUnauthorized,
                    headers=pairs(entry.headers),
                    tags=pairs(entry.tags),
                    zone=entry.zone,
                    thresholds_days=(
                        None
                        if entry.thresholdsDays is None
                        else tuple(sorted(set(entry.thresholdsDays), reverse=True))
                    ),
                    **_kinds(_checks(plugins, document, entry, build, where)),
                    **timing,
                )
            )
        names = [site.name for site in sites]
        for name in sorted({name for name in names if names.count(name) > 1}):
            build.problem("licmon.sites", f"site name {name!r} is used more than once")
        return tuple(sites)

    checks = _checks(plugins, document, None, build, "Butler")
    if not checks:
        return ()
    qrs, cert = butler.configQRS, butler.cert
    needed = "required when the license monitor is enabled"
    host = (qrs.host or "").strip()
    if not host:
        build.problem("Butler.configQRS.host", needed)
    elif not build.host("Butler.configQRS.host", host):
        host = ""
    for key in ("clientCert", "clientCertKey"):
        if getattr(cert, key) is None:
            build.problem(f"Butler.cert.{key}", needed)
    client_cert, client_key = build.certificate_pair(
        "Butler.cert.clientCert",
        cert.clientCert,
        "Butler.cert.clientCertKey",
        cert.clientCertKey,
        "client",
    )
    root_ca = build.ca_file("Butler.cert.clientCertCA", cert.clientCertCA, "root CA")
    _warn_insecure(build, "Butler.configQRS", qrs.useSSL, qrs.rejectUnauthorized)
    if not host or client_cert is None or client_key is None:
        return ()
    return (
        Site(
            name=host_site_name(host),
            host=host,
            port=qrs.port,
            client_cert=client_cert,
            client_key=client_key,
            root_ca=root_ca,
            use_ssl=qrs.useSSL,
            verify_hostname=ours.verifyHostname,
            reject_unauthorized=qrs.rejectUnauthorized,
            headers=pairs(qrs.headers.static),
            tags=(),
            **_kinds(checks),
            **timing,
        ),
    )


def _warn_insecure(build: Build, where: str, use_ssl: bool, reject_unauthorized: bool) -> None:
    if not use_ssl:
        build.warn(
            f"{where}.useSSL is false: the QRS is called over plain HTTP, so the X-Qlik-User "
            "header (the user every call acts as) and any static header go in clear"
        )
    elif not reject_unauthorized:
        build.warn(
            f"{where}.rejectUnauthorized is false: the QRS server certificate is not "
            "verified, so anyone on the path can pose as the server"
        )


__all__ = ["build_sites"]
