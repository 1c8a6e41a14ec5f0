"""The sites to check: Butler's one `configQRS` site, or our `licmon.sites[]`.

Each check kind says which sites it checks and on which schedule (`site_frequency`): the
Butler site exists when any kind is enabled.
"""

from __future__ import annotations

from typing import Any

from licmon.config.build import MONITOR_PATH, Build
from licmon.config.model import Site
from licmon.config.sections import pairs


def _checks(document: Any, entry: Any | None) -> tuple[tuple[str, str], ...]:
    from licmon.checks import CHECK_KINDS

    found = ((kind.name, kind.site_frequency(document, entry)) for kind in CHECK_KINDS)
    return tuple((name, frequency) for name, frequency in found if frequency is not None)


def build_sites(document: Any, build: Build) -> tuple[Site, ...]:
    butler, ours = document.Butler, document.licmon
    monitor = butler.qlikSenseLicense.serverLicenseMonitor
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
                    threshold_days=(
                        monitor.alert.thresholdDays
                        if entry.thresholdDays is None
                        else entry.thresholdDays
                    ),
                    frequency=(
                        entry.serverLicense.frequency or entry.frequency or monitor.frequency
                    ),
                    zone=entry.zone,
                    thresholds_days=(
                        None
                        if entry.thresholdsDays is None
                        else tuple(sorted(set(entry.thresholdsDays), reverse=True))
                    ),
                    checks=_checks(document, entry),
                    **timing,
                )
            )
        names = [site.name for site in sites]
        for name in sorted({name for name in names if names.count(name) > 1}):
            build.problem("licmon.sites", f"site name {name!r} is used more than once")
        return tuple(sites)

    checks = _checks(document, None)
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
            name=host,
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
            threshold_days=monitor.alert.thresholdDays,
            frequency=monitor.frequency,
            checks=checks,
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


__all__ = ["MONITOR_PATH", "build_sites"]
