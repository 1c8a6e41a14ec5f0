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
    QlikCerts,
    ensure_misfit_certs,
    ensure_qlik_certs,
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

__all__ = [
    "DATE_FORMATS",
    "DEFAULT_SERVER_NAMES",
    "FAULTS",
    "LOOPBACK_SERVER_NAMES",
    "Capacity",
    "CertPair",
    "LoginPasses",
    "MisfitCerts",
    "QlikCerts",
    "RecordedRequest",
    "Seats",
    "SimulatedAccess",
    "SimulatedLicense",
    "Simulator",
    "Site",
    "SiteSpec",
    "Tokens",
    "UserPasses",
    "ensure_misfit_certs",
    "ensure_qlik_certs",
    "run_simulator",
    "start_simulator",
]
