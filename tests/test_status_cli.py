"""`licmon status` on a state written through the same classes the workers use, on a real
Redis: the JSON shape, `stale` and `never`, exit codes, and every way it cannot answer.
(tests/test_zones_e2e.py runs it against state written by real checks.)"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from licmon.cli.main import main
from licmon.cli.status import stale_at
from licmon.simulator import ensure_qlik_certs
from licmon.state.fleet import FleetState
from licmon.state.lease import Lease
from licmon.state.pending import PendingChecks
from tests.services import free_port

KIND = "server_license"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("frequency", "last_success", "stale"),
    [
        # Two fire times after the last success, and one period (at most a minute) more.
        ("every 2 seconds", "2026-11-28T00:00:01Z", "2026-11-28T00:00:06Z"),
        ("every 24 hours", "2026-11-28T00:00:01Z", "2026-11-30T00:01:00Z"),
        # Friday 08:00:01: Monday's and Tuesday's checks are the two periods.
        ("every weekday at 8:00 am", "2026-11-27T08:00:01Z", "2026-12-01T08:01:00Z"),
    ],
)
def test_a_site_is_stale_after_two_periods_of_its_schedule(
    frequency: str, last_success: str, stale: str
) -> None:
    assert stale_at(frequency, at(last_success)) == at(stale)


def test_a_schedule_that_stops_firing_never_makes_a_site_stale() -> None:
    assert stale_at("every 1 hour in 2025", at("2026-01-01T00:00:00Z")) is None


def write_config(tmp_path: Path, broker: str, sites: list[str]) -> Path:
    # Real PEM files: the loader reads them with `ssl` as the QRS client will.
    real = ensure_qlik_certs(tmp_path / "qlik-certs").directory
    for name in ("client.pem", "client_key.pem"):
        shutil.copy(real / name, tmp_path / name)
    cert = {"clientCert": "client.pem", "clientCertKey": "client_key.pem"}
    document = {
        "Butler": {"qlikSenseLicense": {"serverLicenseMonitor": {"frequency": "every 1 hour"}}},
        "licmon": {
            "broker": {"url": broker},
            "sites": [
                {"name": name, "host": f"{name}.example.com", "cert": cert}
                | ({"zone": "east"} if name.startswith("east") else {})
                # Watched for its access licenses alone.
                | ({"serverLicense": {"enable": False}} if name.startswith("seats") else {})
                for name in sites
            ],
        },
    }
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main(["status", "--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def status_of(level: str, days: int | None) -> dict[str, Any]:
    return {
        "site": "x",
        "status": level,
        "daysUntilExpiry": days,
        "expiryDate": None if days is None else "2027-01-01",
    }


def test_every_site_from_the_state_with_the_leader_and_the_queues(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, redis_url, ["fine", "soon", "gone", "east-1", "broken", "old"])
    fleet, now = FleetState(redis_client), datetime.now(UTC)
    fleet.succeeded(KIND, "fine", status_of("ok", 200), "fine@1", now)
    fleet.succeeded(KIND, "soon", status_of("warning", 20), "soon@1", now)
    fleet.succeeded(KIND, "gone", status_of("expired", -3), "gone@1", now)
    fleet.succeeded(KIND, "broken", status_of("ok", 90), "broken@1", now - timedelta(minutes=5))
    fleet.failed(
        KIND, "broken", status_of("unknown", None), "broken@2", now, "timeout", "no answer"
    )
    fleet.succeeded(KIND, "old", status_of("ok", 90), "old@1", now - timedelta(hours=3))
    # east-1 was never checked; a check of it waits in its zone's queue.
    PendingChecks(redis_client).offer(KIND, "east-1", "east-1@1", "2026-11-28T00:00:00Z", "q", "t")
    from celery import Celery

    Celery("status-test", broker=redis_url, set_as_current=False).send_task(
        "license.fetch", kwargs={"site": "east-1"}, queue="license.fetch.east"
    )
    Lease(redis_client, 15).hold("token", "beat-host", 4242)

    code, out, _ = run(capsys, config, "--json")
    view = json.loads(out)
    assert code == 2  # expired is the most severe
    assert set(view) == {"sites", "beat", "queues"}
    sites = {site["site"]: site for site in view["sites"]}
    assert list(sites) == ["fine", "soon", "gone", "east-1", "broken", "old"]
    assert sites["fine"] == {
        "site": "fine",
        "zone": None,
        "status": "ok",
        "daysUntilExpiry": 200,
        "expiryDate": "2027-01-01",
        "lastChecked": sites["fine"]["lastChecked"],
        "lastSuccess": sites["fine"]["lastChecked"],
        "consecutiveFailures": 0,
        "lastError": None,
        "waiting": False,
    }
    assert sites["fine"]["lastChecked"].endswith("Z")
    assert (sites["soon"]["status"], sites["gone"]["status"]) == ("warning", "expired")
    assert sites["east-1"] | {"lastChecked": None} == sites["east-1"]
    assert (sites["east-1"]["status"], sites["east-1"]["zone"], sites["east-1"]["waiting"]) == (
        "never",
        "east",
        True,
    )
    assert sites["broken"]["status"] == "unknown"
    assert sites["broken"]["lastError"] == {"kind": "timeout", "reason": "no answer"}
    assert sites["broken"]["consecutiveFailures"] == 1
    assert sites["old"]["status"] == "stale"  # "every 1 hour": stale after 2 h 1 min
    assert view["beat"]["leader"] == {"host": "beat-host", "pid": 4242}
    assert 0 <= view["beat"]["leaseAgeSeconds"] < 5
    assert view["queues"] == {"license.fetch": 0, "license.fetch.east": 1}

    # Exit codes follow `licmon check`: 2, 1, 3, 0 in that order of severity.
    assert run(capsys, config, "--site", "soon")[0] == 1
    assert run(capsys, config, "--site", "fine")[0] == 0
    for unknown in ("east-1", "broken", "old"):
        assert run(capsys, config, "--site", unknown)[0] == 3

    code, out, _ = run(capsys, config)
    lines = out.splitlines()
    assert lines[0].startswith("LICENSE ")
    assert lines[1].split() == [
        "SITE", "ZONE", "STATUS", "DAYS", "LEFT", "EXPIRES", "CHECKED", "FAILS", "WAITING", "ERROR",
    ]  # fmt: skip
    assert lines[6].split()[:3] == ["broken", "-", "UNKNOWN"]
    assert lines[6].endswith("timeout: no answer")
    assert "beat: leader beat-host pid 4242, lease renewed" in out
    assert "queue license.fetch.east: 1" in out


def test_a_site_watched_for_its_access_licenses_alone_is_left_out(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, redis_url, ["fine", "seats-only"])
    FleetState(redis_client).succeeded(KIND, "fine", status_of("ok", 200), "f@1", datetime.now(UTC))
    code, out, _ = run(capsys, config, "--json")
    assert code == 0 and [site["site"] for site in json.loads(out)["sites"]] == ["fine"]
    code, out, err = run(capsys, config, "--site", "seats-only")
    assert (code, out) == (3, "")
    assert "site 'seats-only': server license not checked" in err
    # And the other way round: no site's access licenses are watched in this file.
    code, out, err = run(capsys, config, "--access")
    assert (code, out) == (3, "") and "every site: access licenses not checked" in err


def test_no_leader_is_said(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, redis_url, ["fine"])
    code, out, _ = run(capsys, config)
    assert code == 3 and "NEVER" in out and "beat: no leader" in out
    view = json.loads(run(capsys, config, "--json")[1])
    assert view["beat"] == {"leader": None, "leaseAgeSeconds": None}


def test_what_it_cannot_answer_exits_3_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    closed = f"redis://:s3cret-password@127.0.0.1:{free_port()}/0"
    code, out, err = run(capsys, write_config(tmp_path, closed, ["fine"]))
    assert (code, out) == (3, "") and "cannot read Redis" in err and "s3cret" not in err
    code, _, err = run(capsys, write_config(tmp_path, redis_url, ["fine"]), "--site", "nope")
    assert code == 3 and "no site named 'nope'" in err and "(sites: fine)" in err
    (tmp_path / "licmon.yaml").write_text("licmon: {sites: [{name: 'bad name'}]}")
    code, _, err = run(capsys, tmp_path / "licmon.yaml")
    assert code == 3 and "configuration error" in err
    code, _, err = run(capsys, write_config(tmp_path, "sqla+sqlite:///x.db", ["fine"]))
    assert code == 3 and "not Redis" in err
