"""Libraries that print URLs, tokens and headers stay at WARNING, even with `licmon -v`;
LICMON_LIBRARY_LOG_LEVEL lets them lower only when asked by name.

Before: urllib3's DEBUG log printed every request line, query-string tokens included.
(Celery's worker, beat and Flower at --loglevel=DEBUG: test_pipeline_secrets.py.)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from licmon.logs import LIBRARY_LOGGERS, library_level, quiet_libraries
from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, run_simulator
from licmon.simulator.server import Simulator
from tests.hostile.support import dump, licmon

HEADER_SECRET = "hdr-s3cret-value"


@pytest.fixture(scope="module")
def simulator(qlik_certs: QlikCerts) -> Iterator[Simulator]:
    far = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=400)
    spec = SiteSpec("prod", license=SimulatedLicense(valid_to=[far]))
    with run_simulator([spec], qlik_certs) as running:
        yield running


def config(tmp_path: Path, qlik_certs: QlikCerts, simulator: Simulator) -> Path:
    site = {
        "name": "prod",
        "host": "127.0.0.1",
        "port": simulator.sites["prod"].port,
        "verifyHostname": False,
        "headers": [{"name": "X-Api-Key", "value": HEADER_SECRET}],
        "cert": {
            "clientCert": str(qlik_certs.client_cert),
            "clientCertKey": str(qlik_certs.client_key),
            "clientCertCA": str(qlik_certs.root_ca),
        },
    }
    return dump(tmp_path, {"licmon": {"sites": [site]}})


def test_verbose_check_keeps_libraries_quiet(
    tmp_path: Path, qlik_certs: QlikCerts, simulator: Simulator
) -> None:
    run = licmon("-v", "check", "--config", str(config(tmp_path, qlik_certs, simulator)))
    assert run.bounded().code == 0, run.output
    assert "DEBUG" in run.err  # our own debug logging is on
    assert "urllib3" not in run.err and "Starting new HTTPS connection" not in run.err
    assert "xrfkey=" not in run.output.lower()
    assert HEADER_SECRET not in run.output
    # The request did carry the header: the quiet log is not an idle one.
    (request,) = simulator.sites["prod"].requests
    assert request.headers.get("X-Api-Key") == HEADER_SECRET


def test_asked_by_name_libraries_log_again(
    tmp_path: Path, qlik_certs: QlikCerts, simulator: Simulator
) -> None:
    run = licmon(
        "-v",
        "check",
        "--config",
        str(config(tmp_path, qlik_certs, simulator)),
        env={"LICMON_LIBRARY_LOG_LEVEL": "DEBUG"},
    )
    assert run.bounded().code == 0, run.output
    # What the policy holds back: the request line, query string included.
    assert "urllib3.connectionpool" in run.err
    assert '"GET /qrs/license?xrfkey=' in run.err


def test_the_level_is_warning_unless_named() -> None:
    assert library_level({}) == logging.WARNING
    assert library_level({"LICMON_LIBRARY_LOG_LEVEL": "debug"}) == logging.DEBUG
    assert library_level({"LICMON_LIBRARY_LOG_LEVEL": "nonsense"}) == logging.WARNING
    root = logging.getLogger()
    previous = root.level
    try:
        root.setLevel(logging.DEBUG)
        quiet_libraries({})
        for name in (*LIBRARY_LOGGERS, "urllib3.connectionpool", "influxdb_client.client.http"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        root.setLevel(previous)
