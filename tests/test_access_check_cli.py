"""`licmon check --access` against the QRS simulator over real mutual TLS, with the forecast
read from a Redis seeded directly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from licmon.checks.access_license.history import key
from licmon.cli.main import main
from licmon.simulator import (
    QlikCerts,
    Seats,
    SimulatedAccess,
    Simulator,
    SiteSpec,
    Tokens,
    ensure_qlik_certs,
    run_simulator,
)
from tests.pipeline_support import site_entries
from tests.services import REDIS_URL, free_port

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def sim(certs: QlikCerts) -> Iterator[Simulator]:
    specs = [
        SiteSpec("seats", access=SimulatedAccess(professional=Seats(100, 95, 90))),
        SiteSpec("tokens", access=SimulatedAccess.tokens_only(tokens=Tokens(1000, 400))),
    ]
    with run_simulator(specs, certs) as simulator:
        yield simulator


def document(certs: QlikCerts, sim: Simulator, **licmon: Any) -> dict[str, Any]:
    sites = site_entries(certs, sim)
    return {
        "Butler": {"qlikSenseLicense": {"licenseMonitor": {"enable": True}}},
        "licmon": {
            "sites": sites,
            "timeouts": {"qrsConnect": 2, "qrsRead": 1},
            "broker": {"url": REDIS_URL},
        }
        | licmon,
    }


def run(
    tmp_path: Path, doc: dict[str, Any], capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump(doc))
    code = main(["check", "--access", "--config", str(path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lists_butlers_fields_low_and_the_forecast(
    tmp_path: Path,
    certs: QlikCerts,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    redis_client: redis.Redis,
) -> None:
    days = [(TODAY - timedelta(days=2 - i)).isoformat() for i in range(3)]
    redis_client.hset(key("seats", "professional"), mapping=dict(zip(days, (9, 7, 5), strict=True)))
    redis_client.hset(key("seats", "analyzer"), mapping=dict(zip(days, (80, 80, 80), strict=True)))
    alerts = {"professional": {"minAvailable": 5}, "tokens_available": {"minAvailablePercent": 30}}
    code, out, err = run(tmp_path, document(certs, sim, accessAlerts=alerts), capsys, "--json")
    assert code == 1, err
    assert json.loads(out) == [
        {
            "site": "seats",
            "professional": {
                "allocated": 95,
                "available": 5,
                "excess": 0,
                "quarantined": 0,
                "total": 100,
                "used": 90,
            },
            "analyzer": {
                "allocated": 120,
                "available": 80,
                "excess": 0,
                "quarantined": 0,
                "total": 200,
                "used": 100,
            },
            "low": ["professional"],
            "exhaustsInDays": {"professional": 2.5, "analyzer": None},
        },
        {
            "site": "tokens",
            "token_login": {
                "allocated_tokens": 100,
                "token_cost": 0.1,
                "unavailable_tokens": 0,
                "used_tokens": 40,
            },
            "token_user": {
                "allocated_tokens": 50,
                "quarantined_tokens": 0,
                "token_cost": 1,
                "used_tokens": 20,
            },
            "tokens_available": {"available_tokens": 400, "total_tokens": 1000},
            "low": [],
            "exhaustsInDays": {"tokens_available": None},
        },
    ]


def test_table_and_exit_0_when_nothing_is_low(
    tmp_path: Path, certs: QlikCerts, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(tmp_path, document(certs, sim), capsys)
    assert code == 0
    lines = out.splitlines()
    # Available seats or tokens per counted type, 0 to the total; no minimum is set here.
    assert lines.pop(0) == (
        "ACCESS OK - seats professional 5 of 100 available, 2 of 2 sites ok | "
        "'seats professional'=5;;;0;100 'seats analyzer'=80;;;0;200 "
        "'tokens tokens_available'=400;;;0;1000"
    )
    assert lines[0].split() == [
        "SITE",
        "TYPE",
        "AVAILABLE",
        "TOTAL",
        "USED",
        "LOW",
        "EXHAUSTS",
        "IN",
        "DAYS",
    ]
    assert lines[1].split() == ["seats", "professional", "5", "100", "90", "-"]
    assert lines[3].split() == ["tokens", "token_login", "-", "100", "40"]
    assert lines[5].split() == ["tokens", "tokens_available", "400", "1000", "-", "-"]


def test_exit_3_when_a_site_cannot_be_read_and_1_wins(
    tmp_path: Path, certs: QlikCerts, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.sites["tokens"].access = SimulatedAccess(remove=("professionalAccess.total",))
    code, out, _ = run(tmp_path, document(certs, sim), capsys, "--json")
    assert code == 3
    assert json.loads(out)[1] == {
        "site": "tokens",
        "error": "QRS access field 'professionalAccess.total' is missing",
        "low": [],
        "exhaustsInDays": {},
    }
    sim.sites["tokens"].fault = "503"
    code, out, _ = run(tmp_path, document(certs, sim), capsys)
    assert code == 3 and "accesstypeoverview answered 503 Service Unavailable" in out
    alerts = {"professional": {"minAvailablePercent": 5}}
    assert run(tmp_path, document(certs, sim, accessAlerts=alerts), capsys)[0] == 1


def test_no_forecast_without_redis_and_no_site_without_the_monitor(
    tmp_path: Path, certs: QlikCerts, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = document(certs, sim)
    doc["licmon"]["broker"]["url"] = f"redis://127.0.0.1:{free_port()}/0"
    code, out, err = run(tmp_path, doc, capsys, "--json")
    assert code == 0
    assert json.loads(out)[0]["exhaustsInDays"] == {"professional": None, "analyzer": None}
    assert "no forecast, Redis cannot be read" in err
    doc["Butler"]["qlikSenseLicense"]["licenseMonitor"]["enable"] = False
    code, out, err = run(tmp_path, doc, capsys)
    assert code == 3 and out == ""
    assert "every site: access licenses not checked" in err
