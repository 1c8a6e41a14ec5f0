"""`licmon exporter` on state written through the classes the workers use, on a real Redis:
every metric's value and labels, what a site never read has, and the command's exit codes.
(tests/test_observe_e2e.py scrapes it with a real Prometheus after real checks.)"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from licmon.deadletters import DeadLetter, DeadLetters
from licmon.exporter.collector import FleetCollector, version
from licmon.plugins import load_config
from licmon.state import metrics
from licmon.state.fleet import FleetState
from licmon.state.lease import Lease
from tests.fleet_support import LICMON
from tests.pipeline_support import wait_for
from tests.services import free_port
from tests.test_status_cli import KIND, write_config

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
DAY = 86400


def status(level: str, expiry: str | None, expired: bool | None = False) -> dict[str, Any]:
    return {
        "site": "x",
        "status": level,
        "expiryDate": expiry,
        # As of the check: the exporter recomputes it from expiryDate at scrape time.
        "daysUntilExpiry": 999,
        "licenseExpired": expired,
    }


def scrape(client: redis.Redis, config_path: Path, now: datetime = NOW) -> dict[tuple, float]:
    """{(metric name, sorted labels): value} as a Prometheus server would parse the page."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(client, load_config(str(config_path)), clock=lambda: now))
    return parse(generate_latest(registry).decode())


def parse(text: str) -> dict[tuple, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def of(samples: dict[tuple, float], name: str) -> dict[str, float]:
    """A per-site metric by site."""
    return {
        dict(labels)["site"]: value for (metric, labels), value in samples.items() if metric == name
    }


SITES = ["fine", "soon", "gone", "forever", "broken", "east-1", "unread"]


def test_every_metric_from_the_fleet_state(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str
) -> None:
    config = write_config(tmp_path, redis_url, SITES)
    fleet = FleetState(redis_client)
    checked = NOW - timedelta(hours=1)
    fleet.succeeded(KIND, "fine", status("ok", "2027-06-16"), "fine@1", checked)
    fleet.succeeded(KIND, "soon", status("warning", "2026-12-21"), "soon@1", checked)
    # Valid on the day of the check, expired by the scrape: days recomputed, expired too.
    fleet.succeeded(KIND, "gone", status("warning", "2026-11-30"), "gone@1", checked)
    fleet.succeeded(KIND, "forever", status("ok", None), "forever@1", checked)
    # Read once, then failing: its license stays known, its checks say they fail.
    fleet.succeeded(KIND, "broken", status("ok", "2027-03-01"), "broken@1", NOW - timedelta(days=2))
    for attempt in (2, 3):
        fleet.failed(KIND, "broken", status("unknown", None, None), f"broken@{attempt}", checked,
                     "timeout", "no answer")  # fmt: skip
    # The QRS answered but the date could not be read: no license metric is made up.
    fleet.succeeded(KIND, "unread", status("unknown", None, None), "unread@1", checked)
    metrics.count_check_failure(redis_client, "broken", "timeout")
    metrics.count_check_failure(redis_client, "broken", "timeout")
    metrics.count_check_failure(redis_client, "removed-site", "timeout")
    for outcome in ("delivered", "delivered", "skipped", "retried", "dead_lettered"):
        metrics.count_delivery(redis_client, "webhook", outcome)
    letters = DeadLetters(redis_client)
    for number in (1, 2):
        letter = DeadLetter("deliver.webhook", "broken", "webhook", "a-1", f"b@{number}", "500", 2)
        letters.push(letter)
    Lease(redis_client, 15).hold("token", "beat-host", 7)
    redis_client.rpush("license.fetch.east", b"{}", b"{}")

    samples = scrape(redis_client, config)

    assert samples[("licmon_build_info", (("version", version()),))] == 1
    assert version() == "0.1.0"
    assert samples[("licmon_redis_up", ())] == 1
    midnight = datetime(2027, 6, 16, tzinfo=UTC).timestamp()
    assert of(samples, "qlik_sense_license_expiry_timestamp_seconds") == {
        "fine": midnight,
        "soon": datetime(2026, 12, 21, tzinfo=UTC).timestamp(),
        "gone": datetime(2026, 11, 30, tzinfo=UTC).timestamp(),
        "broken": datetime(2027, 3, 1, tzinfo=UTC).timestamp(),
    }
    assert of(samples, "qlik_sense_license_days_until_expiry") == {
        "fine": 197, "soon": 20, "gone": -1, "broken": 90,
    }  # fmt: skip
    assert of(samples, "qlik_sense_license_expired") == {
        "fine": 0, "soon": 0, "gone": 1, "forever": 0, "broken": 0,
    }  # fmt: skip
    assert of(samples, "qlik_sense_license_perpetual") == {
        "fine": 0, "soon": 0, "gone": 0, "forever": 1, "broken": 0,
    }  # fmt: skip
    # Labels: site and zone (empty for a central site); east-1 was never checked.
    assert ("qlik_sense_license_expired", (("site", "fine"), ("zone", ""))) in samples
    assert of(samples, "licmon_check_success") == {
        "fine": 1, "soon": 1, "gone": 1, "forever": 1, "broken": 0, "unread": 1,
    }  # fmt: skip
    assert of(samples, "licmon_last_check_timestamp_seconds")["broken"] == checked.timestamp()
    assert (
        of(samples, "licmon_last_success_timestamp_seconds")["broken"]
        == (NOW - timedelta(days=2)).timestamp()
    )
    assert "east-1" not in of(samples, "licmon_last_check_timestamp_seconds")
    # "every 1 hour": every configured site, checked or not.
    assert of(samples, "licmon_check_period_seconds") == dict.fromkeys(SITES, 3600)
    assert (
        samples[
            ("licmon_check_failures_total", (("kind", "timeout"), ("site", "broken"), ("zone", "")))
        ]
        == 2
    )
    assert "removed-site" not in of(samples, "licmon_check_failures_total")
    deliveries = {
        (dict(labels)["destination"], dict(labels)["outcome"]): value
        for (name, labels), value in samples.items()
        if name == "licmon_deliveries_total"
    }
    assert deliveries == {
        ("webhook", "delivered"): 2, ("webhook", "skipped"): 1,
        ("webhook", "retried"): 1, ("webhook", "dead_lettered"): 1,
    }  # fmt: skip
    assert of(samples, "licmon_dead_letters") == dict.fromkeys(SITES, 0) | {"broken": 2}
    assert ("licmon_dead_letters", (("site", "east-1"), ("zone", "east"))) in samples
    queues = {
        dict(labels)["queue"]: value
        for (name, labels), value in samples.items()
        if name == "licmon_queue_length"
    }
    assert queues == {"license.fetch": 0, "license.fetch.east": 2}
    assert 0 <= samples[("licmon_beat_leader_lease_age_seconds", ())] < 5


def test_no_leader_no_lease_age_and_a_site_never_checked_has_no_license_metrics(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str
) -> None:
    samples = scrape(redis_client, write_config(tmp_path, redis_url, ["fine"]))
    names = {name for name, _ in samples}
    assert "licmon_beat_leader_lease_age_seconds" not in names
    assert not {name for name in names if name.startswith("qlik_sense_")}
    assert "licmon_check_success" not in names
    assert of(samples, "licmon_dead_letters") == {"fine": 0}


def test_a_site_watched_for_its_access_licenses_alone_has_no_server_license_metrics(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str
) -> None:
    fleet = FleetState(redis_client)
    for site in ("fine", "seats-only"):  # seats-only's state: from before it opted out
        fleet.succeeded(KIND, site, status("ok", "2027-06-01"), f"{site}@1", NOW)
    samples = scrape(redis_client, write_config(tmp_path, redis_url, ["fine", "seats-only"]))
    for name in (
        "qlik_sense_license_expiry_timestamp_seconds",
        "licmon_check_success",
        "licmon_check_period_seconds",
    ):
        assert list(of(samples, name)) == ["fine"], name


def test_redis_lost_while_serving_says_so_and_nothing_else(tmp_path: Path) -> None:
    closed = f"redis://:s3cret-password@127.0.0.1:{free_port()}/0"
    samples = scrape(redis.Redis.from_url(closed), write_config(tmp_path, closed, ["fine"]))
    assert {name for name, _ in samples} == {"licmon_build_info", "licmon_redis_up"}
    assert samples[("licmon_redis_up", ())] == 0


def exporter(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [LICMON, "exporter", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_command_serves_metrics_and_stops_on_sigterm_with_0(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str
) -> None:
    config = write_config(tmp_path, redis_url, ["fine"])
    FleetState(redis_client).succeeded(
        KIND, "fine", status("ok", "2099-01-01"), "fine@1", datetime.now(UTC)
    )
    port = free_port()
    process = exporter(config, "--port", str(port))
    try:

        def page() -> str:
            try:
                return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.RequestException:
                return ""

        text = wait_for(page, 20, "the exporter to answer", every=0.2)
        samples = parse(text)
        assert of(samples, "qlik_sense_license_perpetual") == {"fine": 0}
        assert not any(name.startswith(("process_", "python_")) for name, _ in samples)
        assert redis_url.rsplit("@", 1)[-1] not in text  # no broker URL on the page
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "serving /metrics on http://127.0.0.1:" in process.stderr.read()


def test_exit_codes_when_it_cannot_serve(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    closed = f"redis://:s3cret-password@127.0.0.1:{free_port()}/0"
    process = exporter(write_config(tmp_path, closed, ["fine"]), "--port", str(free_port()))
    _, err = process.communicate(timeout=20)
    assert process.returncode == 3 and "cannot reach Redis" in err and "s3cret" not in err

    (tmp_path / "bad.yaml").write_text("licmon: {sites: [{name: 'bad name'}]}")
    process = exporter(tmp_path / "bad.yaml")
    _, err = process.communicate(timeout=20)
    assert process.returncode == 2 and "configuration error" in err

    process = exporter(write_config(tmp_path, "sqla+sqlite:///x.db", ["fine"]))
    _, err = process.communicate(timeout=20)
    assert process.returncode == 2 and "not Redis" in err

    busy = write_config(tmp_path, redis_url, ["fine"])
    first = exporter(busy, "--port", str(port := free_port()))
    try:
        wait_for(lambda: _answers(port), 20, "the first exporter", every=0.2)
        second = exporter(busy, "--port", str(port))
        _, err = second.communicate(timeout=20)
        assert second.returncode == 2 and f"cannot serve on 127.0.0.1:{port}" in err
    finally:
        first.terminate()
        first.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=1).ok
    except requests.RequestException:
        time.sleep(0.1)
        return False


def test_counters_never_raise_when_redis_is_gone() -> None:
    gone = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    metrics.count_delivery(gone, "webhook", "delivered")
    metrics.count_check_failure(gone, "fine", "timeout")
    assert json.dumps(metrics.OUTCOMES) == '["delivered", "skipped", "retried", "dead_lettered"]'


def test_access_licenses_per_site_and_type_with_their_forecast(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str
) -> None:
    import yaml

    from licmon.checks.access_license import history as access_history
    from licmon.core.access_license import AccessStatus

    path = write_config(tmp_path, redis_url, ["acc-a", "acc-b"])
    document = yaml.safe_load(path.read_text())
    document["Butler"]["qlikSenseLicense"]["licenseMonitor"] = {"enable": True}
    path.write_text(yaml.safe_dump(document))
    fleet = FleetState(redis_client)
    for site in ("acc-a", "acc-b"):
        redis_client.delete(*(access_history.key(site, kind) for kind in ("professional",)))
        redis_client.delete(fleet.key("access_license", site))
    licenses = {
        "professional": {"allocated": 18.0, "available": 2.0, "total": 20.0, "used": 17.0},
        "tokens_available": {"available_tokens": 40.0, "total_tokens": 100.0},
    }
    read = AccessStatus(site="acc-a", checkedAt=NOW.isoformat(), licenses=licenses)
    fleet.succeeded("access_license", "acc-a", read.to_json(), "acc-a@1", NOW)
    # Three daily readings falling by 2 a day: at 2 left, one more day.
    for back, available in ((2, 6.0), (1, 4.0), (0, 2.0)):
        day = AccessStatus(
            site="acc-a",
            checkedAt=NOW.isoformat(),
            licenses={"professional": licenses["professional"] | {"available": available}},
        )
        access_history.record(redis_client, "acc-a", day, NOW - timedelta(days=back))
    samples = scrape(redis_client, path)
    labels = (("license_type", "professional"), ("site", "acc-a"), ("zone", ""))
    assert samples[("qlik_sense_access_license_available", labels)] == 2.0
    assert samples[("qlik_sense_access_license_total", labels)] == 20.0
    tokens = (("license_type", "tokens_available"), ("site", "acc-a"), ("zone", ""))
    assert samples[("qlik_sense_access_license_available_tokens", tokens)] == 40.0
    assert samples[("qlik_sense_access_license_exhausts_in_days", labels)] == 1.0
    # acc-b was never read: no number is made up for it.
    assert not [key for key in samples if ("site", "acc-b") in key[1] and "access" in key[0]]
