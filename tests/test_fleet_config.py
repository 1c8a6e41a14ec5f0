"""The fleet's keys (`licmon.sites[].zone`, `licmon.beat.leaseSeconds`) and the routing they
drive, without any process: the app's router is asked where each check goes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery

from licmon.checks.access_license import ACCESS_LICENSE
from licmon.checks.server_license import SERVER_LICENSE
from licmon.config import ConfigError
from licmon.plugins import load_config
from licmon.simulator import ensure_qlik_certs

pytestmark = pytest.mark.fast


@pytest.fixture(scope="session")
def qlik_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Real PEM files: the loader reads them with `ssl` as the QRS client will.
    return ensure_qlik_certs(tmp_path_factory.mktemp("qlik-certs")).directory


@pytest.fixture
def certs(tmp_path: Path, qlik_certs: Path) -> dict[str, str]:
    for name in ("client.pem", "client_key.pem"):
        shutil.copy(qlik_certs / name, tmp_path / name)
    return {
        "clientCert": str(tmp_path / "client.pem"),
        "clientCertKey": str(tmp_path / "client_key.pem"),
    }


def site(name: str, certs: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"name": name, "host": f"{name}.example.com", "cert": certs, **more}


def load(tmp_path: Path, licmon: dict[str, Any]) -> Any:
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump({"licmon": licmon}))
    return load_config(path, env={})


def problems(tmp_path: Path, licmon: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, licmon)
    return [str(problem) for problem in caught.value.problems]


def test_a_site_may_name_a_zone(tmp_path: Path, certs: dict[str, str]) -> None:
    config = load(
        tmp_path,
        {
            "sites": [
                site("a", certs, zone="dc-east.1"),
                site("b", certs, zone=42),  # YAML's number, still a name
                site("c", certs),
            ]
        },
    )
    assert [s.zone for s in config.sites] == ["dc-east.1", "42", None]
    assert config.beat.lease_seconds == 15


@pytest.mark.parametrize("zone", ["dc east", "a,b", ".hidden", "-x", "x" * 64, "zone/1", True])
def test_a_zone_that_cannot_name_a_queue_is_refused(
    tmp_path: Path, certs: dict[str, str], zone: object
) -> None:
    (problem,) = problems(tmp_path, {"sites": [site("a", certs, zone=zone)]})
    assert problem.startswith(
        "licmon.sites[0].zone: expected a zone name of letters, digits, '.', '_' or '-' "
        "(at most 63), got "
    ), problem


def test_lease_seconds(tmp_path: Path, certs: dict[str, str]) -> None:
    sites = [site("a", certs)]
    assert load(tmp_path, {"sites": sites, "beat": {"leaseSeconds": 3}}).beat.lease_seconds == 3
    for bad in (2.5, 301, "soon", True):
        assert problems(tmp_path, {"sites": sites, "beat": {"leaseSeconds": bad}}) == [
            f"licmon.beat.leaseSeconds: expected a number of seconds from 3 to 300, got {bad!r}"
        ]


def routing_app(config: Any) -> Celery:
    from worker.settings import celery_settings

    app = Celery("routing-test", set_as_current=False)
    app.conf.update(celery_settings(config))
    return app


def test_the_router_sends_each_check_to_its_zone(tmp_path: Path, certs: dict[str, str]) -> None:
    config = load(
        tmp_path, {"sites": [site("a", certs, zone="east"), site("c", certs), site("b", certs)]}
    )
    router = routing_app(config).amqp.router

    def queue(
        site: str, task: str = "license.fetch", by_position: bool = False, **options: Any
    ) -> str:
        args, kwargs = ((site,), {}) if by_position else ((), {"site": site})
        return router.route(options, task, args, kwargs)["queue"].name

    assert queue("a") == "license.fetch.east"
    assert queue("a", by_position=True) == "license.fetch.east"  # as a person may send it
    assert queue("c") == "license.fetch"
    assert queue("nowhere") == "license.fetch"  # and fails in the task, centrally
    assert queue("a", task="deliver.webhook") == "deliver.webhook"  # deliveries stay central
    # A sender naming the queue itself wins, as in Celery; the fetch task forwards it.
    assert queue("a", queue="license.fetch") == "license.fetch"


def test_beat_entries_name_no_queue(tmp_path: Path, certs: dict[str, str]) -> None:
    from worker.beat import beat_schedule

    config = load(tmp_path, {"sites": [site("a", certs, zone="east")]})
    (entry,) = beat_schedule(config).values()
    assert "queue" not in entry.get("options", {})


def test_a_worker_consumes_what_it_started_with_never_a_zone_it_routes_to(
    tmp_path: Path, certs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A central worker that forwards a zoned check creates the zone's queue in its own app;
    the queue must not join what the worker consumes (after a reconnect, say). The step runs
    on the app's real queue table, as the worker runs it after applying -Q."""
    from types import SimpleNamespace

    from licmon.resources import current
    from worker.zones import ZoneQueues

    config = load(tmp_path, {"sites": [site("a", certs, zone="east")]})
    monkeypatch.setattr(current(), "config", config)  # worker.runtime's config
    central = {"license.fetch", "deliver.influxdb", "deliver.mqtt", "deliver.webhook"}
    for option_q, zone, expected in (
        ((), (), central),
        ((), ("west",), central | {"license.fetch.west"}),
        (("license.fetch.west",), (), {"license.fetch.west"}),
    ):
        app = routing_app(config)
        app.amqp.queues.select(option_q)  # what -Q does, before the worker's steps
        ZoneQueues(SimpleNamespace(app=app), zone=zone)
        app.amqp.queues["license.fetch.east"]  # routing a check there creates the queue
        consumed = set(app.amqp.queues.consume_from)
        assert central & consumed == central & expected
        assert {q for q in consumed if q.startswith("license.fetch.")} == {
            q for q in expected if q.startswith("license.fetch.")
        }


def test_the_commented_example_names_a_zone_and_the_lease(tmp_path: Path, qlik_certs: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "config" / "multi-site.yaml"
    (tmp_path / "licmon.yaml").write_text(example.read_text())
    for name in ("prod", "test", "analytics"):
        (tmp_path / "certs" / name).mkdir(parents=True)
        for pem in ("client.pem", "client_key.pem", "root.pem"):
            shutil.copy(qlik_certs / pem, tmp_path / "certs" / name / pem)
    secrets = {"LICMON_ALERT_WEBHOOK_URL_1": "https://hooks.example.com/x"}
    config = load_config(tmp_path / "licmon.yaml", env=secrets | {"LICMON_INFLUXDB_TOKEN": "t"})
    assert [(s.name, s.zone) for s in config.sites] == [
        ("prod", None),
        ("test", "lab-dc"),
        ("analytics", None),
    ]
    assert [SERVER_LICENSE.frequency(s) is not None for s in config.sites] == [True, True, False]
    assert [ACCESS_LICENSE.frequency(s) is not None for s in config.sites] == [True, False, True]
    assert config.beat.lease_seconds == 15
