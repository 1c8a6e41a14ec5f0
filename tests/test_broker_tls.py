"""The broker over TLS, end to end, on a redis-server of the test's own that has no
plain-text port and requires a client certificate (`--port 0 --tls-port N
--tls-auth-clients yes`): a worker and a beat deliver a full check, `licmon status`,
`deadletters` and `exporter` read it, and a wrong CA or a missing client certificate stops
each process at start with the file at fault named. Then the same over a Sentinel group
whose nodes and sentinels all speak TLS only, through a failover."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, ensure_qlik_certs, run_simulator
from tests.broker_servers import MASTER_NAME, Pki, SentinelGroup, TlsRedis
from tests.conftest import service_missing
from tests.faults.support import fault_document, webhook_receipts
from tests.fleet_support import LICMON
from tests.http_receiver import HttpReceiver, run_receiver
from tests.pipeline_support import Deployment, in_days, wait_for
from tests.services import free_port, stop_process


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("broker-pki"))


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, pytestconfig: pytest.Config
) -> Iterator[TlsRedis]:
    if shutil.which("redis-server") is None:
        service_missing(pytestconfig, "redis-server (Debian package 'redis-server')")
    started = TlsRedis(tmp_path_factory.mktemp("tls-redis"), pki)
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("qlik-certs"))


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from run_receiver()


def deployment_on(
    root: Path, server: TlsRedis, document: dict[str, Any], tls: dict[str, str]
) -> Deployment:
    document["licmon"]["broker"]["tls"] = tls
    return Deployment(root, document, broker_url=server.url(0), result_backend=server.url(1))


def run_cli(
    deployment: Deployment, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    deployment.write_config()
    return subprocess.run(
        [LICMON, *args, "--config", str(deployment.config_path)],
        capture_output=True,
        text=True,
        env=deployment.env(),
        timeout=timeout,
    )


def test_the_server_has_no_plain_text_port_and_wants_a_client_certificate(
    server: TlsRedis, pki: Pki
) -> None:
    assert server.client().config_get("port") == {"port": "0"}
    # Plain text on the TLS port gets no answer a Redis client accepts.
    with pytest.raises(redis.RedisError):
        redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2).ping()
    # TLS without a client certificate is refused (tls-auth-clients yes).
    anonymous = redis.Redis(
        host="127.0.0.1", port=server.port, ssl=True, ssl_ca_certs=str(pki.ca), socket_timeout=2
    )
    with pytest.raises(redis.RedisError):
        anonymous.ping()


def test_a_full_check_is_delivered_and_read_back_over_tls(
    tmp_path: Path, server: TlsRedis, pki: Pki, certs: QlikCerts, receiver: HttpReceiver
) -> None:
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    with run_simulator([site], certs) as simulator:
        document = fault_document(certs, simulator, receiver, ["/status-a"])
        deployment = deployment_on(tmp_path, server, document, pki.tls_section())
        try:
            worker = deployment.start_worker(concurrency=1)
            # The beat's startup check: fetched, judged and delivered, all through TLS.
            deployment.start_beat()
            wait_for(lambda: webhook_receipts(receiver), 60, "the check delivered over TLS")
            ((check, path),) = webhook_receipts(receiver)
            assert check.startswith("alpha@") and path == "status-a"
            assert "broker persistence: AOF" in deployment.log_of(worker)

            # The CLI and the exporter read the same Redis over TLS.
            wait_for(lambda: run_cli(deployment, "status").returncode == 0, 30, "status OK")
            letters = run_cli(deployment, "deadletters")
            assert (letters.returncode, letters.stdout.strip()) == (0, "0 dead letters")
            assert "licmon_redis_up 1.0" in scrape_exporter(deployment)
        finally:
            deployment.stop_all()


def scrape_exporter(deployment: Deployment) -> str:
    port = free_port()
    deployment.write_config()
    log = deployment.root / "exporter.log"
    exporter = subprocess.Popen(
        [LICMON, "exporter", "--port", str(port), "--config", str(deployment.config_path)],
        env=deployment.env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:

        def scraped() -> str | None:
            if exporter.poll() is not None:
                raise AssertionError(f"the exporter exited: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return str(r.read().decode())
            except OSError:
                return None

        text: str = wait_for(scraped, 30, "the exporter to serve /metrics")
        return text
    finally:
        stop_process(exporter)


@pytest.mark.parametrize("role", ["worker", "beat"])
def test_a_wrong_ca_stops_the_process_at_start_naming_the_file(
    tmp_path: Path, server: TlsRedis, pki: Pki, certs: QlikCerts, receiver: HttpReceiver, role: str
) -> None:
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    with run_simulator([site], certs) as simulator:
        document = fault_document(certs, simulator, receiver, ["/status-a"])
        deployment = deployment_on(tmp_path, server, document, pki.tls_section(pki.other_ca))
        try:
            process, log = deployment.spawn(role)
            started = time.monotonic()
            code = process.wait(timeout=60)
            text = log.read_text(errors="replace")
            assert code == 2, text
            assert f"the CA file '{pki.other_ca}' (licmon.broker.tls.caFile)" in text, text
            assert "certificate verify failed" in text
            assert time.monotonic() - started < 60
            # The CLI says the same and exits as it does for an unreadable Redis.
            status = run_cli(deployment, "status")
            assert status.returncode == 3
            assert f"the CA file '{pki.other_ca}'" in status.stderr, status.stderr
            letters = run_cli(deployment, "deadletters")
            assert letters.returncode == 3 and f"'{pki.other_ca}'" in letters.stderr
        finally:
            deployment.stop_all()


def test_a_missing_client_certificate_stops_the_worker_at_start(
    tmp_path: Path, server: TlsRedis, pki: Pki, certs: QlikCerts, receiver: HttpReceiver
) -> None:
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    with run_simulator([site], certs) as simulator:
        document = fault_document(certs, simulator, receiver, ["/status-a"])
        deployment = deployment_on(tmp_path, server, document, {"caFile": str(pki.ca)})
        try:
            process, log = deployment.spawn("worker")
            code = process.wait(timeout=60)
            text = log.read_text(errors="replace")
            assert code == 2, text
            assert "licmon.broker.tls.certFile" in text, text
        finally:
            deployment.stop_all()


def test_sentinel_over_tls_delivers_and_follows_a_failover(
    tmp_path: Path, server: TlsRedis, pki: Pki, certs: QlikCerts, receiver: HttpReceiver
) -> None:
    """`server` only proves redis-server has TLS here; the group is the test's own."""
    group = SentinelGroup(tmp_path / "sentinel", 1500, 5000, pki=pki)
    group.start()
    site = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(200)]))
    try:
        with run_simulator([site], certs) as simulator:
            document = fault_document(
                certs, simulator, receiver, ["/status-a"], frequency="every 5 seconds"
            )
            document["licmon"]["broker"]["sentinel"] = {
                "masterName": MASTER_NAME,
                "password": group.sentinel_password,
            }
            deployment = Deployment(
                tmp_path,
                document,
                broker_url=group.url(0),
                result_backend=group.url(1),
            )
            document["licmon"]["broker"]["tls"] = pki.tls_section()
            try:
                worker = deployment.start_worker(concurrency=1)
                deployment.start_beat()
                wait_for(lambda: webhook_receipts(receiver), 60, "a check over Sentinel + TLS")
                status = run_cli(deployment, "status", "--json")
                assert status.returncode == 0, status.stderr
                master = json.loads(status.stdout)["broker"]["master"]
                assert master == f"127.0.0.1:{group.master.port}"

                group.master.kill9()
                wait_for(lambda: group.master_port_now() == group.replica.port, 60, "the promotion")
                promoted = time.monotonic()
                wait_for(
                    lambda: any(r.at > promoted for r in receiver.received()),
                    40,
                    "a tick delivered through the new master",
                )
                status = run_cli(deployment, "status", "--json")
                master = json.loads(status.stdout)["broker"]["master"]
                assert master == f"127.0.0.1:{group.replica.port}"
                assert worker.poll() is None
                logs = deployment.logs()
                assert group.sentinel_password not in logs and group.node_password not in logs
                assert all(count == 1 for count in webhook_receipts(receiver).values())
            finally:
                deployment.stop_all()
    finally:
        group.stop()
