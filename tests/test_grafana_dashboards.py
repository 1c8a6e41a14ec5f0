"""The Grafana files, without a Grafana server (none can run here): each dashboard is the
JSON its declared schema version expects, names only provisioned data sources, lays its
panels on Grafana's 24-column grid without overlap, writes every query as raw text, and
the README's picture is drawn from the current layout. (tests/test_observe_e2e.py runs every
query against InfluxDB and Prometheus.)"""

from __future__ import annotations

import importlib.util
import itertools
import re
from typing import Any

import pytest
import yaml

from tests.observe_support import DASHBOARDS, REPO, dashboard

pytestmark = pytest.mark.fast

PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
BOARDS = {"licmon-influxdb.json": "influxdb", "licmon-prometheus.json": "prometheus"}


def provisioned_sources() -> dict[str, str]:
    document = yaml.safe_load((PROVISIONING / "datasources" / "licmon.yaml").read_text())
    return {source["uid"]: source["type"] for source in document["datasources"]}


def test_the_two_dashboards_and_their_provisioning() -> None:
    assert sorted(path.name for path in DASHBOARDS.glob("*.json")) == sorted(BOARDS)
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "licmon.yaml").read_text())
    (only,) = provider["providers"]
    assert (only["type"], only["options"]["path"]) == ("file", "/var/lib/grafana/dashboards")
    assert provisioned_sources() == {
        "licmon-prometheus": "prometheus",
        "licmon-influxdb": "influxdb",
    }


def test_each_dashboard_has_what_its_schema_version_requires() -> None:
    uids = set()
    for name, kind in BOARDS.items():
        board = dashboard(name)
        # Schema 39 (Grafana 11.x): panels flat under `panels` with `gridPos`, data sources
        # as {type, uid} objects, template variables under `templating.list`.
        assert board["schemaVersion"] == 39
        assert {"uid", "title", "panels", "templating", "time", "version"} <= set(board)
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", board["uid"]) and board["uid"] not in uids
        uids.add(board["uid"])
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids)
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": kind, "uid": f"licmon-{kind}"}
            assert {"defaults", "overrides"} <= set(panel["fieldConfig"])
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]
                assert target["refId"]
                if kind == "influxdb":  # raw InfluxQL, readable and testable as it is
                    assert target["rawQuery"] is True and target["query"].startswith("SELECT")
                else:
                    assert target["expr"]
        (site,) = [v for v in board["templating"]["list"] if v["name"] == "site"]
        assert (
            site["multi"] and site["includeAll"] and site["datasource"]["uid"] == f"licmon-{kind}"
        )


def test_panels_fill_the_24_column_grid_without_overlap() -> None:
    for name in BOARDS:
        boxes = [panel["gridPos"] for panel in dashboard(name)["panels"]]
        for box in boxes:
            assert box["x"] >= 0 and box["x"] + box["w"] <= 24 and box["h"] > 0
        for a, b in itertools.combinations(boxes, 2):
            apart = (
                a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
            )  # fmt: skip
            assert apart, (name, a, b)


def test_influxql_reads_butlers_measurement_and_filters_by_the_site_variable() -> None:
    board = dashboard("licmon-influxdb.json")
    (site,) = board["templating"]["list"][:1]
    assert site["query"] == 'SHOW TAG VALUES FROM "qlik_sense_server_license" WITH KEY = "site"'
    for panel in board["panels"]:
        for target in panel["targets"]:
            assert 'WHERE "site" =~ /^$site$/' in target["query"], panel["title"]
            assert re.search(r'FROM "qlik_sense_server_license(_check)?"', target["query"])


def test_the_prometheus_dashboard_uses_only_metrics_the_exporter_serves() -> None:
    served = set(re.findall(r'"((?:qlik_sense|licmon)_[a-z_]+)"', _collector_source()))
    board = dashboard("licmon-prometheus.json")
    used = {
        name
        for panel in board["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b((?:qlik_sense|licmon)_[a-z_]+)", target["expr"])
    }
    # Counters are served with `_total` (prometheus_client adds it).
    assert used <= served | {f"{name}_total" for name in served}, used - served


def _collector_source() -> str:
    return (REPO / "licmon" / "exporter" / "collector.py").read_text()


def test_the_readme_picture_is_drawn_from_the_current_layout() -> None:
    spec = importlib.util.spec_from_file_location(
        "render", REPO / "scripts" / "render-dashboards.py"
    )
    assert spec and spec.loader
    render: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    drawn = render.png_text(REPO / "docs" / "dashboards.png")["layout-sha256"]
    assert drawn == render.layout_hash(render.boards()), (
        "docs/dashboards.png is out of date: run scripts/render-dashboards.py"
    )
