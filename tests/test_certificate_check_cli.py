"""`licmon check --kind certificate` against real TLS peers: the QRS simulator (its port's
chain, with the client certificate presented), a proxy endpoint, the client file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from licmon.cli.main import main
from licmon.simulator import (
    QlikCerts,
    SiteSpec,
    ensure_client_cert,
    ensure_qlik_certs,
    run_simulator,
)
from licmon.simulator.server import Simulator
from tests.pipeline_support import site_entries
from tests.qrs_support import proxy_ending_in
from tests.services import free_port


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    # The QRS port's certificate ends in 200 days: never the earliest in these tests.
    return ensure_qlik_certs(tmp_path_factory.mktemp("certs"), server_cert_days=200)


@pytest.fixture(scope="module")
def simulator(certs: QlikCerts) -> Iterator[Simulator]:
    with run_simulator([SiteSpec("prod")], certs) as running:
        yield running


def document(
    certs: QlikCerts, simulator: Simulator, endpoints: list[str], client_days: int = 40
) -> dict[str, Any]:
    (entry,) = site_entries(certs, simulator)
    client = ensure_client_cert(certs, client_days)
    entry["cert"] |= {"clientCert": str(client.cert), "clientCertKey": str(client.key)}
    entry["certificates"] = {"enable": True, "endpoints": endpoints}
    return {"licmon": {"sites": [entry], "timeouts": {"qrsConnect": 1, "qrsRead": 1}}}


def run(
    tmp_path: Path, config: dict[str, Any], capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump(config))
    code = main(["check", "--config", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_certificate_of_a_site_one_row_each_and_the_earliest_decides(
    tmp_path: Path, certs: QlikCerts, simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    with proxy_ending_in(10, tmp_path) as (proxy, _):
        endpoint = f"127.0.0.1:{proxy.port}"
        config = document(certs, simulator, [endpoint])
        code, out, _ = run(tmp_path, config, capsys, "--kind", "certificate", "--json")
        assert code == 1  # 10 days: at or below the highest level (30)
        (site,) = json.loads(out)
        assert (site["site"], site["status"], site["daysUntilExpiry"], site["error"]) == (
            "prod",
            "warning",
            10,
            None,
        )
        found = {(c["endpoint"], c["subject"]): c for c in site["certificates"]}
        qrs = f"127.0.0.1:{simulator.sites['prod'].port}"
        assert found[(qrs, "qlikserver1.domain.local")]["daysUntilExpiry"] == 200
        proxy_leaf = found[(endpoint, "localhost")]
        assert (proxy_leaf["daysUntilExpiry"], proxy_leaf["expired"]) == (10, False)
        assert proxy_leaf["notAfter"].endswith("Z")
        client = [c for (where, _), c in found.items() if where.startswith("client:")]
        assert [c["daysUntilExpiry"] for c in client] == [40]
        assert (
            client[0]["endpoint"] == f"client:{config['licmon']['sites'][0]['cert']['clientCert']}"
        )
        # The proxy's chain: its leaf and the issuing CA that signed it.
        assert len([1 for where, _ in found if where == endpoint]) >= 2

        code, table, _ = run(tmp_path, config, capsys, "--kind", "certificate")
        assert code == 1
        lines = table.splitlines()
        assert lines.pop(0).startswith("CERTIFICATE WARNING - prod certificate 10 days left, ")
        assert lines[0].split() == [
            "SITE",
            "ENDPOINT",
            "SUBJECT",
            "ISSUER",
            "NOT",
            "AFTER",
            "DAYS",
            "LEFT",
            "STATUS",
        ]
        # Earliest first: the proxy's leaf, 10 days, at the warning level.
        assert lines[1].split()[:3] == ["prod", endpoint, "localhost"]
        assert lines[1].split()[-2:] == ["10", "WARNING"]


def test_an_expired_proxy_is_critical_not_a_failed_check(
    tmp_path: Path, certs: QlikCerts, simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    with proxy_ending_in(-3, tmp_path) as (proxy, _):
        config = document(certs, simulator, [f"127.0.0.1:{proxy.port}"])
        code, out, _ = run(tmp_path, config, capsys, "--kind", "certificate", "--json")
    (site,) = json.loads(out)
    assert (code, site["status"], site["daysUntilExpiry"]) == (2, "expired", -3)


def test_far_ends_are_ok(
    tmp_path: Path, certs: QlikCerts, simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    with proxy_ending_in(90, tmp_path) as (proxy, _):
        config = document(certs, simulator, [f"127.0.0.1:{proxy.port}"], client_days=120)
        code, out, _ = run(tmp_path, config, capsys, "--kind", "cert", "--json")
    (site,) = json.loads(out)
    assert (code, site["status"], site["daysUntilExpiry"]) == (0, "ok", 90)


def test_a_refused_endpoint_fails_the_check_naming_it(
    tmp_path: Path, certs: QlikCerts, simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    config = document(certs, simulator, [closed])
    code, out, _ = run(tmp_path, config, capsys, "--kind", "certificate", "--json")
    (site,) = json.loads(out)
    assert (code, site["status"], site["certificates"]) == (3, "unknown", [])
    assert f"endpoint {closed}" in site["error"] and "refused" in site["error"]


def test_kinds_are_chosen_by_name_or_alias_and_an_unknown_one_is_listed(
    tmp_path: Path, certs: QlikCerts, simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = document(certs, simulator, [])
    code, _, err = run(tmp_path, config, capsys, "--kind", "nodes")
    assert code == 3
    assert (
        "no check kind 'nodes' (kinds: server_license or license, access_license or access" in err
    )
    code, _, err = run(tmp_path, config, capsys, "--kind", "certificate", "--access")
    assert (code, "--access contradicts --kind certificate" in err) == (3, True)
    # The site is checked for its certificates and its server license, not its seats.
    code, _, err = run(tmp_path, config, capsys, "--access")
    assert code == 3
    assert "access licenses not checked" in err and "--kind server_license shows it" in err


def test_a_bad_endpoint_is_refused_at_load_naming_its_key(
    tmp_path: Path, certs: QlikCerts, simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = document(certs, simulator, ["qlik.example.com", "bad host:443", "h:0"])
    code, _, err = run(tmp_path, config, capsys, "--kind", "certificate")
    assert code == 3
    for index in range(3):
        assert f"licmon.sites[0].certificates.endpoints[{index}]: expected host:port" in err
