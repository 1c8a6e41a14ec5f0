"""`licmon status --access`: the access licenses as the workers last read them, from a real
Redis seeded through the classes the workers use; no QRS is called."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import yaml

from licmon.checks.access_license.history import key, record
from licmon.cli.main import main
from licmon.core.access_license import AccessStatus
from licmon.simulator import ensure_qlik_certs
from licmon.state.fleet import FleetState

NOW = datetime.now(UTC).replace(microsecond=0)
KIND = "access_license"
SITES = ("acc-ok", "acc-low", "acc-down", "acc-new")


def config(tmp_path: Path, redis_url: str) -> Path:
    real = ensure_qlik_certs(tmp_path / "qlik-certs").directory
    for name in ("client.pem", "client_key.pem"):
        shutil.copy(real / name, tmp_path / name)
    cert = {"clientCert": "client.pem", "clientCertKey": "client_key.pem"}
    document = {
        "Butler": {"qlikSenseLicense": {"licenseMonitor": {"enable": True}}},
        "licmon": {
            "broker": {"url": redis_url},
            "accessAlerts": {"professional": {"minAvailable": 5}},
            "sites": [
                {"name": name, "host": f"{name}.example.com", "cert": cert} for name in SITES
            ],
        },
    }
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def seats(site: str, available: float) -> AccessStatus:
    numbers = {"allocated": 100 - available, "available": available, "total": 100.0}
    return AccessStatus(site=site, checkedAt=NOW.isoformat(), licenses={"professional": numbers})


def test_numbers_low_types_failures_and_exit_codes(
    tmp_path: Path,
    redis_client: redis.Redis,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = config(tmp_path, redis_url)
    fleet = FleetState(redis_client)
    for site in SITES:
        redis_client.delete(fleet.key(KIND, site), key(site, "professional"))
    fleet.succeeded(KIND, "acc-ok", seats("acc-ok", 40).to_json(), "acc-ok@1", NOW)
    fleet.succeeded(KIND, "acc-low", seats("acc-low", 3).to_json(), "acc-low@1", NOW)
    fleet.succeeded(KIND, "acc-down", seats("acc-down", 60).to_json(), "acc-down@1", NOW)
    failed = AccessStatus(site="acc-down", checkedAt=NOW.isoformat(), error="refused")
    fleet.failed(KIND, "acc-down", failed.to_json(), "acc-down@2", NOW, "auth_rejected", "401")
    for back, available in ((2, 9.0), (1, 6.0), (0, 3.0)):
        record(redis_client, "acc-low", seats("acc-low", available), NOW - timedelta(days=back))

    code = main(["status", "--access", "--json", "--config", str(path)])
    views = {view["site"]: view for view in json.loads(capsys.readouterr().out)}
    assert code == 1  # a type is low: that wins
    assert views["acc-new"] == {"site": "acc-new", "zone": None, "state": "never"}
    assert (views["acc-ok"]["state"], views["acc-ok"]["low"]) == ("ok", [])
    assert views["acc-ok"]["professional"]["available"] == 40
    assert views["acc-low"]["low"] == ["professional"]
    assert views["acc-low"]["exhaustsInDays"] == {"professional": 1.0}
    # Its last check failed: the numbers are the last ones read, the failure beside them.
    down = views["acc-down"]
    assert (down["state"], down["consecutiveFailures"]) == ("failing", 1)
    assert down["lastError"] == {"kind": "auth_rejected", "reason": "401"}
    assert down["professional"]["available"] == 60

    code = main(["status", "--access", "--config", str(path), "--site", "acc-ok"])
    table = capsys.readouterr().out
    assert code == 0
    assert "acc-ok" in table and "professional" in table and "acc-low" not in table
    assert main(["status", "--access", "--config", str(path), "--site", "acc-down"]) == 3
    capsys.readouterr()
