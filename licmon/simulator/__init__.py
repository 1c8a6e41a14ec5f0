"""A Qlik Sense Repository Service look-alike for tests and demos (the only test double)."""

from licmon.simulator.access import (
    Capacity,
    LoginPasses,
    Seats,
    SimulatedAccess,
    Tokens,
    UserPasses,
)
from licmon.simulator.certs import (
    DEFAULT_SERVER_NAMES,
    LOOPBACK_SERVER_NAMES,
    CertPair,
    MisfitCerts,
    ProxyCerts,
    QlikCerts,
    ensure_client_cert,
    ensure_misfit_certs,
    ensure_qlik_certs,
    issue_proxy_certs,
    lifetime_dates,
)
from licmon.simulator.license import DATE_FORMATS, SimulatedLicense
from licmon.simulator.server import (
    FAULTS,
    RecordedRequest,
    Simulator,
    Site,
    SiteSpec,
    run_simulator,
    start_simulator,
)
from licmon.simulator.tls_endpoint import TlsEndpoint, endpoint_context, run_tls_endpoint

__all__ = [
    "DATE_FORMATS",
    "DEFAULT_SERVER_NAMES",
    "FAULTS",
    "LOOPBACK_SERVER_NAMES",
    "Capacity",
    "CertPair",
    "LoginPasses",
    "MisfitCerts",
    "ProxyCerts",
    "QlikCerts",
    "RecordedRequest",
    "Seats",
    "SimulatedAccess",
    "SimulatedLicense",
    "Simulator",
    "Site",
    "SiteSpec",
    "TlsEndpoint",
    "Tokens",
    "UserPasses",
    "endpoint_context",
    "ensure_client_cert",
    "ensure_misfit_certs",
    "ensure_qlik_certs",
    "issue_proxy_certs",
    "lifetime_dates",
    "run_simulator",
    "run_tls_endpoint",
    "start_simulator",
]
