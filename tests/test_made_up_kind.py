"""A kind no production code knows, registered in this test only, gets every edge a kind
has: `licmon check --kind`, `licmon status --kind`, its exporter metrics, its digest lines
and its configuration sections. Nothing in licmon names it; the registry is the only door.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import redis
import yaml
from prometheus_client.core import GaugeMetricFamily, Metric

from licmon.checks.base import KindDefaults
from licmon.cli.main import main
from licmon.config import ConfigError
from licmon.config.sections import Section
from licmon.core.digest import DigestRow
from licmon.exporter.collector import FleetCollector
from licmon.plugins import PLUGINS, load_config
from licmon.registry import Registry
from licmon.simulator import ensure_qlik_certs
from licmon.state.fleet import FleetState
from licmon.views import Report, aligned, exit_code_of

NOW = datetime.now(UTC)


class NodeSection(Section):
    """`licmon.sites[].nodeCount`."""

    enable: bool = False
    frequency: str = "every 1 hours"
    minimum: int = 2


@dataclass(frozen=True)
class Nodes:
    site: str
    nodes: int
    minimum: int

    @property
    def level(self) -> str:
        return "ok" if self.nodes >= self.minimum else "warning"

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "nodes": self.nodes,
            "minimum": self.minimum,
            "status": self.level,
        }


class NodeCountCheck(KindDefaults):
    """How many nodes a site runs, read from the site's tags (no I/O: the data source is the
    kind's own business)."""

    name = "node_count"
    aliases = ("nodes",)
    monitor_key = None
    label = "node count"
    check_measurement = "node_count_check"
    site_sections: ClassVar[dict[str, type[Section]]] = {"nodeCount": NodeSection}
    not_checked = "node count not checked (licmon.sites[].nodeCount.enable)"

    def entry_name(self, site: str) -> str:
        return f"node count {site}"

    def frequency(self, site: Any) -> str | None:
        return site.schedule(self.name)

    def site_frequency(self, document: Any, entry: Any | None) -> str | None:
        return None if entry is None or not entry.nodeCount.enable else entry.nodeCount.frequency

    def site_settings(self, document: Any, entry: Any, build: Any, where: str) -> int:
        return int(entry.nodeCount.minimum)

    def own_settings(self, document: Any) -> None:
        return None

    def feature(self, document: Any, key: str) -> None:
        return None  # delivered nowhere

    def fetch(self, site: Any, connections: Any) -> int:
        return len(site.tags)

    def evaluate(self, site: Any, answer: int, checked_at: datetime, config: Any) -> Nodes:
        return Nodes(site.name, answer, site.settings_of(self.name))

    def failed(self, site: Any, checked_at: datetime, reason: str) -> Nodes:
        return Nodes(site.name, 0, 0)

    def check_report(
        self, config: Any, statuses: list[Nodes], state: Any, limits: Any = None
    ) -> Report:
        rows = [(s.site, str(s.nodes), s.level.upper()) for s in statuses]
        return Report(
            [s.to_json() for s in statuses],
            "\n".join(aligned([("SITE", "NODES", "STATUS"), *rows])),
            exit_code_of(s.level for s in statuses),
        )

    def status_report(
        self, client: redis.Redis, config: Any, sites: list[Any], now: datetime, limits: Any = None
    ) -> Report:
        states = FleetState(client).read(self.name, [site.name for site in sites])
        seen = [(name, (state.status or {}) if state else {}) for name, state in states.items()]
        document = [{"site": name, "nodes": status.get("nodes")} for name, status in seen]
        return Report(
            document, json.dumps(document), exit_code_of(s.get("status", "") for _, s in seen)
        )

    def metrics(
        self, client: Any, config: Any, states: Mapping[str, Any], now: datetime
    ) -> Iterable[Metric]:
        family = GaugeMetricFamily("test_site_nodes", "Nodes a site runs", labels=["site"])
        for name, state in states.items():
            if state is not None and state.status:
                family.add_metric([name], state.status["nodes"])
        return [family]

    def digest_rows(self, config: Any, states: Mapping[str, Any], today: date) -> list[DigestRow]:
        return [
            DigestRow(0, name, f"{name}: {state.status['nodes']} nodes", {"site": name})
            for name, state in states.items()
            if state is not None and state.status and state.status["status"] != "ok"
        ]


NODES = NodeCountCheck()
WITH_NODES = Registry((*PLUGINS.kinds, NODES), PLUGINS.destinations)  # type: ignore[arg-type]


@pytest.fixture
def config_file(tmp_path: Path, redis_url: str) -> Path:
    certs = ensure_qlik_certs(tmp_path / "certs")
    cert = {"clientCert": str(certs.client_cert), "clientCertKey": str(certs.client_key)}
    site = {"host": "127.0.0.1", "cert": cert, "serverLicense": {"enable": False}}
    document = {
        "licmon": {
            "broker": {"url": redis_url},
            "sites": [
                site
                | {
                    "name": "alpha",
                    "tags": [{"name": "n1", "value": "a"}],
                    "nodeCount": {"enable": True},
                },
                site
                | {
                    "name": "beta",
                    "tags": [{"name": f"n{i}", "value": "b"} for i in range(3)],
                    "nodeCount": {"enable": True, "minimum": 3},
                },
            ],
        }
    }
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_check_and_status_by_its_name_or_alias(
    config_file: Path, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--kind", "nodes", "--json", "-c", str(config_file)], plugins=WITH_NODES)
    statuses = json.loads(capsys.readouterr().out)
    assert code == 1  # alpha runs one node of two
    assert statuses == [
        {"site": "alpha", "nodes": 1, "minimum": 2, "status": "warning"},
        {"site": "beta", "nodes": 3, "minimum": 3, "status": "ok"},
    ]
    assert main(["check", "--kind", "node_count", "-c", str(config_file)], plugins=WITH_NODES) == 1
    lines = capsys.readouterr().out.splitlines()
    # A kind that gives no summary or word of its own: its name, and how many sites.
    assert lines[0] == "NODECOUNT WARNING - 2 sites checked"
    assert lines[2].split() == ["alpha", "1", "WARNING"]

    fleet = FleetState(redis_client)
    for status in statuses:
        fleet.succeeded(NODES.name, status["site"], status, f"{status['site']}@1", NOW)
    code = main(["status", "--kind", "nodes", "--json", "-c", str(config_file)], plugins=WITH_NODES)
    assert code == 1
    assert json.loads(capsys.readouterr().out) == [
        {"site": "alpha", "nodes": 1},
        {"site": "beta", "nodes": 3},
    ]


def test_exporter_and_digest_iterate_over_it(config_file: Path, redis_client: redis.Redis) -> None:
    config = load_config(config_file, env={}, plugins=WITH_NODES)
    fleet = FleetState(redis_client)
    fleet.succeeded(NODES.name, "alpha", Nodes("alpha", 1, 2).to_json(), "alpha@1", NOW)
    fleet.succeeded(NODES.name, "beta", Nodes("beta", 3, 3).to_json(), "beta@1", NOW)
    families = {family.name: family for family in FleetCollector(redis_client, config).collect()}
    assert {s.labels["site"]: s.value for s in families["test_site_nodes"].samples} == {
        "alpha": 1,
        "beta": 3,
    }
    success = {
        (s.labels["site"], s.labels["check"]): s.value
        for s in families["licmon_check_success"].samples
    }
    assert success == {("alpha", "node_count"): 1, ("beta", "node_count"): 1}

    from licmon.resources import current
    from tasks import digest

    process = current()
    before, process.config = process.config, config
    try:
        assert [row.text for row in digest.rows(NOW.date())] == ["alpha: 1 nodes"]
    finally:
        process.config = before


def test_its_sections_exist_only_while_it_is_registered(config_file: Path) -> None:
    assert load_config(config_file, env={}, plugins=WITH_NODES).sites[0].checks == (
        ("node_count", "every 1 hours"),
    )
    with pytest.raises(ConfigError) as refused:
        load_config(config_file, env={})
    assert "licmon.sites[0].nodeCount" in refused.value.report()
