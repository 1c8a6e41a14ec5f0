"""``licmon qrs-simulator``: serve simulated Qlik Sense sites for demos and manual tests."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path
from typing import Any

from licmon.cli.exit_codes import exit_help

_SITE_ARG = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)=(?P<port>\d{1,5})")
_FAULTS = (
    *("none", "500", "503", "401", "403", "404"),
    *("slow", "html", "malformed", "hang", "drop-reused"),
    *("drip", "drip-headers", "huge", "nested-json", "escapes", "redirect"),
    *("empty-object", "error-object", "not-a-license", "non-object"),
)
_CLOUD_FAULTS = ("none", "401", "403", "429", "slow", "malformed", "not_object", "500")
_DATE_FORMATS = ("qlik", "us", "de", "iso", "date")  # kept in step with simulator.license
_EXTRA_MODULES = {"trustme", "cryptography"}  # what the `simulator` extra installs


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "qrs-simulator",
        help="serve simulated QRS sites (GET /qrs/license) over mutual TLS",
        description="Serve one or more simulated Qlik Sense Repository Services with "
        "Qlik-style certificates, until SIGINT or SIGTERM.",
        **exit_help("qrs-simulator"),
    )
    parser.add_argument("--cert-dir", default=".licmon/certs", help="default: %(default)s")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=4242, help="first port (default 4242)")
    sites = parser.add_mutually_exclusive_group()
    sites.add_argument(
        "--sites",
        type=int,
        metavar="N",
        help="N sites on consecutive ports (0: none, with --cloud-tenants)",
    )
    sites.add_argument(
        "--site", action="append", metavar="NAME=PORT", type=_site_arg, help="repeatable"
    )
    parser.add_argument(
        "--server-name",
        action="append",
        metavar="NAME",
        help="name in the server certificate (repeatable; default qlikserver1.domain.local)",
    )
    parser.add_argument(
        "--server-cert-days",
        type=int,
        metavar="N",
        help="serve a server certificate that ends N days from now (0: today, negative: "
        "already expired); default: one that never ends",
    )
    parser.add_argument(
        "--client-cert-days",
        type=int,
        metavar="N",
        help="write the client certificate to use as one that ends N days from now "
        "(client_+Nd.pem beside client.pem); default: client.pem, which never ends",
    )
    parser.add_argument(
        "--valid-to",
        type=_valid_to_arg,
        metavar="DATE|+DAYS",
        help="license end: YYYY-MM-DD, or days from today (may be negative); "
        "default +30, or -10 with --expired",
    )
    parser.add_argument("--date-format", choices=_DATE_FORMATS, default="qlik")
    parser.add_argument("--expired", action="store_true", help="isExpired=true")
    parser.add_argument("--perpetual", action="store_true", help="no Valid To at all")
    parser.add_argument("--lef-only", action="store_true", help="serial+LEF, empty keyDetails")
    parser.add_argument("--fault", choices=_FAULTS, default="none")
    parser.add_argument("--slow-seconds", type=float, default=5.0, metavar="S")
    cloud = parser.add_argument_group(
        "Qlik Cloud tenants",
        "GET /api/v1/licenses/overview and /status over HTTPS, behind a bearer API key; "
        "the server certificate is issued by cloud_root.pem in --cert-dir",
    )
    cloud.add_argument(
        "--cloud-tenants", type=int, default=0, metavar="N", help="N simulated tenants"
    )
    cloud.add_argument(
        "--cloud-port",
        type=int,
        metavar="PORT",
        help="first tenant port (0: free ports); default: right after the sites' ports",
    )
    cloud.add_argument(
        "--cloud-ends-in-days",
        type=_ends_in_days_arg,
        default=365,
        metavar="N|open",
        help="the license ends N days from today (may be negative), or 'open' (no end); "
        "default 365",
    )
    cloud.add_argument("--cloud-trial", action="store_true", help="a trial license")
    cloud.add_argument("--cloud-fault", choices=_CLOUD_FAULTS, default="none")
    parser.set_defaults(handler=run)


def _site_arg(text: str) -> tuple[str, int]:
    match = _SITE_ARG.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected NAME=PORT, got {text!r}")
    return match["name"], int(match["port"])


def _valid_to_arg(text: str) -> dt.date:
    if re.fullmatch(r"[+-]\d+", text):
        return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=int(text))
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or +DAYS, got {text!r}") from None


def _ends_in_days_arg(text: str) -> int | None:
    if text == "open":
        return None
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a number of days or 'open', got {text!r}")


def run(args: argparse.Namespace) -> int:
    import signal
    import sys
    import threading

    try:
        from licmon.simulator import (
            DEFAULT_SERVER_NAMES,
            LOOPBACK_SERVER_NAMES,
            CloudTenantSpec,
            SimulatedCloudLicense,
            SimulatedLicense,
            SiteSpec,
            ensure_qlik_certs,
        )
        from licmon.simulator.cloud import start_cloud_tenants
        from licmon.simulator.server import start_simulator
    except ModuleNotFoundError as exc:
        # The simulator's certificate tooling is an extra; a bare install hints at it.
        if (exc.name or "").partition(".")[0] not in _EXTRA_MODULES:
            raise
        print(
            f"licmon qrs-simulator needs {exc.name}, from the 'simulator' extra: "
            "pip install 'qlik-license-monitor[simulator]'",
            file=sys.stderr,
        )
        return 2

    if args.site:
        ports = list(args.site)
    else:
        count = 1 if args.sites is None else args.sites
        ports = [(f"site{i + 1}", args.port + i) for i in range(count)]
    if not ports and args.cloud_tenants <= 0:
        print("nothing to serve: --sites 0 needs --cloud-tenants N", file=sys.stderr)
        return 2
    first_cloud_port = args.cloud_port
    if first_cloud_port is None:
        first_cloud_port = max(port for _, port in ports) + 1 if ports else args.port
    cloud_specs = [
        CloudTenantSpec(
            name=f"cloud{i + 1}",
            port=first_cloud_port + i if first_cloud_port else 0,
            license=SimulatedCloudLicense(
                ends_in_days=args.cloud_ends_in_days,
                trial=args.cloud_trial,
                status="Expired"
                if args.cloud_ends_in_days is not None and args.cloud_ends_in_days < 0
                else "Ok",
            ),
            fault=args.cloud_fault,
            slow_seconds=args.slow_seconds,
        )
        for i in range(max(args.cloud_tenants, 0))
    ]

    end = args.valid_to or _valid_to_arg("-10" if args.expired else "+30")
    valid_to: tuple[dt.date, ...] = () if args.perpetual else (end,)
    specs = [
        SiteSpec(
            name=name,
            port=port,
            license=SimulatedLicense(
                valid_to=valid_to,
                date_format=args.date_format,
                is_expired=args.expired,
                expired_reason="The license has expired." if args.expired else "",
                lef_only=args.lef_only,
            ),
            fault=args.fault,
            slow_seconds=args.slow_seconds,
        )
        for name, port in ports
    ]

    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    certs = ensure_qlik_certs(
        args.cert_dir,
        tuple(args.server_name or DEFAULT_SERVER_NAMES),
        server_cert_days=args.server_cert_days,
        client_cert_days=args.client_cert_days,
    )
    simulator = start_simulator(specs, certs, host=args.host)
    tenants = None
    try:
        if cloud_specs:
            names = (*LOOPBACK_SERVER_NAMES, args.host)
            tenants = start_cloud_tenants(
                cloud_specs, args.cert_dir, host=args.host, server_names=names
            )
        print(f"certificates in {certs.directory.resolve()}:", flush=True)
        print(f"  root CA      {certs.root_ca}", flush=True)
        print(f"  client cert  {certs.client_cert}{_ends(certs.client_cert)}", flush=True)
        print(f"  client key   {certs.client_key}", flush=True)
        print(f"  server cert  {certs.server.cert}{_ends(certs.server.cert)}", flush=True)
        print(f"  server names {', '.join(certs.server_names)}", flush=True)
        for site in simulator.sites.values():
            print(f"site {site.name}: {site.url}/qrs/license (fault: {site.fault})", flush=True)
        for tenant in (tenants.tenants if tenants else {}).values():
            ends = tenant.license.end()
            print(
                f"cloud tenant {tenant.name}: {tenant.url} (/api/v1/licenses/overview and "
                f"/status; ends {f'{ends:%Y-%m-%d}' if ends else 'never'}, "
                f"fault: {tenant.fault})",
                flush=True,
            )
            print(f"  CA file      {tenant.ca_file}", flush=True)
            # Test data of the simulator, made up at start: printing it is the point.
            print(f"  API key      {tenant.api_key}", flush=True)
        print("serving; stop with Ctrl-C or SIGTERM", flush=True)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        if tenants is not None:
            tenants.close()
        simulator.close()
    print("stopped", flush=True)
    return 0


def _ends(cert_path: Path) -> str:
    """When the certificate ends, as printed after its path: a demo watches exactly that."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return f" (ends {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
