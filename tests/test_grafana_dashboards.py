"""The Grafana files, without a Grafana server (none can run here): each dashboard is the
JSON its declared schema version expects, names only provisioned data sources, lays its
panels on Grafana's 24-column grid without overlap, writes every query as raw text, and
docs/observe.md's picture is drawn from the current layout: the tests marked `fast`. Then the
certificate panels' queries against a real InfluxDB 1.x and a real Prometheus, on points and
an exposition made by the certificate kind's own code. (tests/test_observe_e2e.py runs every
other query against what a fleet of simulated sites left.)"""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from licmon.checks.certificate import views as certificate_views
from licmon.checks.certificate.kind import CERTIFICATE, MEASUREMENT
from licmon.checks.certificate.status import Certificate, CertificateStatus, days_until, iso
from licmon.senders.line_protocol import encode_line
from licmon.state.fleet import SiteState
from tests.conftest import service_missing
from tests.observe_support import DASHBOARDS, REPO, Prometheus, dashboard, substitute, targets
from tests.pipeline_support import wait_for
from tests.services import InfluxServer

PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
BOARDS = {"licmon-influxdb.json": "influxdb", "licmon-prometheus.json": "prometheus"}


def provisioned_sources() -> dict[str, str]:
    document = yaml.safe_load((PROVISIONING / "datasources" / "licmon.yaml").read_text())
    return {source["uid"]: source["type"] for source in document["datasources"]}


@pytest.mark.fast
def test_the_two_dashboards_and_their_provisioning() -> None:
    assert sorted(path.name for path in DASHBOARDS.glob("*.json")) == sorted(BOARDS)
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "licmon.yaml").read_text())
    (only,) = provider["providers"]
    assert (only["type"], only["options"]["path"]) == ("file", "/var/lib/grafana/dashboards")
    assert provisioned_sources() == {
        "licmon-prometheus": "prometheus",
        "licmon-influxdb": "influxdb",
    }


@pytest.mark.fast
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


@pytest.mark.fast
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


@pytest.mark.fast
def test_influxql_reads_butlers_measurement_and_filters_by_the_site_variable() -> None:
    board = dashboard("licmon-influxdb.json")
    (site,) = board["templating"]["list"][:1]
    assert site["query"] == 'SHOW TAG VALUES FROM "qlik_sense_server_license" WITH KEY = "site"'
    for panel in board["panels"]:
        for target in panel["targets"]:
            assert 'WHERE "site" =~ /^$site$/' in target["query"], panel["title"]
            assert re.search(
                r'FROM "qlik_sense_(server_license(_check)?|certificate)"', target["query"]
            )


@pytest.mark.fast
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
    """The exporter's own families and each check kind's (`CheckKind.metrics`)."""
    sources = [REPO / "licmon" / "exporter" / "collector.py"]
    sources += sorted((REPO / "licmon" / "checks").glob("*/views.py"))
    return "\n".join(path.read_text() for path in sources)


@pytest.mark.fast
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


# --- certificates -----------------------------------------------------------------------
# A site's certificates as the certificate kind reads them (the QRS port's chain, an extra
# endpoint, the client certificate file), one expired: written to InfluxDB as the kind
# writes its points, served as the exporter serves the kind's families.

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CERTIFICATES = {  # (site, endpoint, subject): days from now to notAfter
    ("alpha", "qlik.example.com:4242", "CN=qlik.example.com"): 20,
    ("alpha", "qlik.example.com:443", "CN=proxy.example.com"): 10,
    ("alpha", "client:/certs/client.pem", "CN=QlikClient"): 200,
    ("beta", "beta.example.com:4242", "CN=beta.example.com"): -3,
}


def certificate_statuses() -> dict[str, CertificateStatus]:
    statuses = {}
    for site in sorted({site for site, _, _ in CERTIFICATES}):
        certificates = []
        for (of, endpoint, subject), days in CERTIFICATES.items():
            if of != site:
                continue
            ends = not_after(days)
            certificates.append(
                Certificate(
                    endpoint=endpoint,
                    subject=subject,
                    issuer="CN=Test CA",
                    notAfter=iso(ends),
                    daysUntilExpiry=days_until(ends, NOW),
                    expired=ends <= NOW,
                    serial="01",
                    fingerprint="00",
                )
            )
        statuses[site] = CertificateStatus(
            site=site,
            checkedAt=iso(NOW),
            status="ok",
            daysUntilExpiry=min(c.daysUntilExpiry for c in certificates),
            certificates=tuple(certificates),
            highestLevel=30,
        )
    return statuses


def not_after(days: int) -> dt.datetime:
    """Noon UTC `days` from today: that many UTC calendar days left, whatever the hour."""
    return dt.datetime.combine(NOW.date() + dt.timedelta(days=days), dt.time(12), dt.UTC)


def expected_days() -> dict[tuple[str, str, str], float]:
    return {key: float(days) for key, days in CERTIFICATES.items()}


def certificate_panel(name: str) -> dict[str, Any]:
    (panel,) = [p for p in dashboard(name)["panels"] if p["title"] == "Certificates"]
    return panel


@pytest.mark.fast
def test_each_dashboard_shows_each_certificate_by_site_endpoint_and_subject() -> None:
    influx = certificate_panel("licmon-influxdb.json")
    (query,) = [t["query"] for t in influx["targets"]]
    assert f'FROM "{MEASUREMENT}"' in query and 'last("days_until_expiry")' in query
    assert query.endswith('GROUP BY "site", "endpoint", "subject"')
    prometheus = certificate_panel("licmon-prometheus.json")
    exprs = {t["refId"]: t["expr"] for t in prometheus["targets"]}
    assert exprs["A"] == 'qlik_sense_certificate_days_until_expiry{site=~"$site"}'
    assert all('{site=~"$site"}' in expr for expr in exprs.values())
    # Each below the panels that were there before it, as wide as the grid.
    for name, panel in (("licmon-influxdb.json", influx), ("licmon-prometheus.json", prometheus)):
        others = [p for p in dashboard(name)["panels"] if p is not panel and p["id"] != panel["id"]]
        bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in others)
        assert panel["gridPos"] == {"x": 0, "y": bottom, "w": 24, "h": 8}, name


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


class _Exposition(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def certificate_prometheus(pytestconfig: pytest.Config) -> Iterator[Prometheus]:
    """A real Prometheus scraping what the exporter serves of the certificates: the kind's
    families, made by its own code from each site's last successful check."""
    if shutil.which("prometheus") is None:
        service_missing(pytestconfig, "Prometheus (Debian package 'prometheus')")
    config = SimpleNamespace(
        sites=[SimpleNamespace(name=site, zone="dmz") for site in certificate_statuses()]
    )
    states = {
        site: SiteState(
            status=status.to_json(),
            check_id="c1",
            last_checked=NOW,
            last_success=NOW,
            consecutive_failures=0,
            error_kind=None,
            error_reason=None,
            success_status=status.to_json(),
        )
        for site, status in certificate_statuses().items()
    }
    families = list(certificate_views.metrics(config, states, NOW))
    registry = CollectorRegistry()
    registry.register(_Families(families))
    handler = type("Handler", (_Exposition,), {"body": generate_latest(registry)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    prometheus = Prometheus([f"127.0.0.1:{server.server_port}"])
    try:
        prometheus.start()
        wait_for(lambda: prometheus.query("qlik_sense_certificate_expired"), 30, "a first scrape")
        yield prometheus
    finally:
        prometheus.stop()
        server.shutdown()
        server.server_close()


def test_the_prometheus_certificate_panel_and_alerts_on_a_real_prometheus(
    certificate_prometheus: Prometheus,
) -> None:
    prometheus = certificate_prometheus
    values = {"site": "(alpha|beta)", "__rate_interval": "5m", "__range": "5m", "__interval": "1s"}
    panel = certificate_panel("licmon-prometheus.json")
    results = {}
    for _, target in targets({"panels": [panel]}):
        found = prometheus.query(substitute(target["expr"], values))
        results[target["refId"]] = {
            (r["metric"]["site"], r["metric"]["endpoint"], r["metric"]["subject"]): float(
                r["value"][1]
            )
            for r in found
        }
        assert {r["metric"]["zone"] for r in found} == {"dmz"}
    assert results["A"] == expected_days()
    assert results["C"] == {key: float(days < 0) for key, days in CERTIFICATES.items()}
    ends = results["B"][("alpha", "qlik.example.com:4242", "CN=qlik.example.com")]
    assert ends == not_after(20).timestamp() * 1000
    # One site chosen: the other's certificates are left out.
    found = prometheus.query(substitute(panel["targets"][0]["expr"], values | {"site": "(beta)"}))
    assert {r["metric"]["site"] for r in found} == {"beta"}
    # The alerts, as Prometheus itself evaluates them (neither has a `for:`).

    def firing() -> set[tuple[str, str, str]]:
        alerts = requests.get(f"{prometheus.url}/api/v1/alerts", timeout=10).json()
        return {
            (a["labels"]["alertname"], a["labels"]["endpoint"], a["labels"]["subject"])
            for a in alerts["data"]["alerts"]
            if a["state"] == "firing" and a["labels"]["alertname"].startswith("QlikCertificate")
        }

    expected = {
        ("QlikCertificateExpiringSoon", "qlik.example.com:443", "CN=proxy.example.com"),
        ("QlikCertificateExpired", "beta.example.com:4242", "CN=beta.example.com"),
    }
    wait_for(lambda: firing() == expected, 20, "the certificate alerts to fire", every=0.5)


def influx_rows(influx: InfluxServer, query: str, db: str) -> list[dict[str, Any]]:
    result = influx.query(query, db=db)["results"][0]
    assert "error" not in result, (query, result)
    return [
        dict(zip(series["columns"], values, strict=True)) | series.get("tags", {})
        for series in result.get("series", [])
        for values in series["values"]
    ]


DASHBOARD_DB = "licmon_dashboards"


@pytest.fixture
def dashboard_db(influx: InfluxServer) -> Iterator[str]:
    influx.query(f'CREATE DATABASE "{DASHBOARD_DB}"')
    yield DASHBOARD_DB
    influx.query(f'DROP DATABASE "{DASHBOARD_DB}"')


def test_the_influxdb_certificate_panel_on_a_real_influxdb(
    influx: InfluxServer, dashboard_db: str
) -> None:
    db = dashboard_db
    # Two checks, the earlier with other numbers: the panel shows the last.
    earlier = NOW - dt.timedelta(days=1)
    tags = (("butler_instance", "test"),)
    lines = []
    for status in certificate_statuses().values():
        for tick in (earlier, NOW):
            for point in CERTIFICATE.influx_points(status, tags, tick):
                fields = dict(point.fields)
                if tick == earlier:
                    fields["days_until_expiry"] = float(fields["days_until_expiry"]) + 1
                lines.append(encode_line(point.measurement, point.tags, fields, point.timestamp))
    written = requests.post(
        f"{influx.url}/write",
        params={"db": db, "precision": "s"},
        data="\n".join(lines).encode(),
        timeout=10,
    )
    assert written.status_code == 204, written.text
    (target,) = certificate_panel("licmon-influxdb.json")["targets"]
    values = {"site": ".*", "timeFilter": "time >= now() - 7d", "__interval": "1h"}
    rows = influx_rows(influx, substitute(target["query"], values), db)
    got = {(r["site"], r["endpoint"], r["subject"]): r for r in rows}
    assert {key: row["days_left"] for key, row in got.items()} == expected_days()
    assert {key: row["expired"] for key, row in got.items()} == {
        key: days < 0 for key, days in CERTIFICATES.items()
    }
    proxy = got[("alpha", "qlik.example.com:443", "CN=proxy.example.com")]
    assert proxy["not_after"] == iso(not_after(10))
    # A multi-value selection, as Grafana writes it.
    chosen = substitute(target["query"], values | {"site": "(beta)"})
    assert {row["site"] for row in influx_rows(influx, chosen, db)} == {"beta"}
