"""The Grafana files, without a Grafana server (none can run here): each dashboard is the
JSON its declared schema version expects, names only provisioned data sources, lays its
panels on Grafana's 24-column grid without overlap, writes every query as raw text, and
docs/observe.md's picture is drawn from the current layout: the tests marked `fast`. Then
the certificate and Qlik Cloud panels' queries against a real InfluxDB 1.x and a real
Prometheus, on points and an exposition made by each kind's own code.
(tests/test_observe_e2e.py runs every other query against what a fleet of simulated sites
left.)"""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
from licmon.checks.qlik_cloud import views as cloud_views
from licmon.checks.qlik_cloud.kind import QLIK_CLOUD
from licmon.checks.qlik_cloud.status import CloudStatus, Minimum, Policy, evaluate
from licmon.senders.line_protocol import encode_line
from licmon.state.fleet import SiteState
from tests.conftest import service_missing
from tests.observe_support import (
    DASHBOARDS,
    REPO,
    Prometheus,
    dashboard,
    regex_value,
    substitute,
    targets,
)
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
    # The sites, and the Qlik Cloud tenants (each a site to the check health metrics).
    assert site["query"] == (
        'SHOW TAG VALUES FROM "qlik_sense_server_license", "qlik_cloud_license" '
        'WITH KEY IN ("site", "tenant")'
    )
    for panel in board["panels"]:
        for target in panel["targets"]:
            if panel["title"].startswith("Qlik Cloud"):  # a tenant's points: tagged `tenant`
                assert 'WHERE "tenant" =~ /^$site$/' in target["query"], panel["title"]
                assert re.search(r'FROM "qlik_cloud_(license|allotment)"', target["query"])
                continue
            assert 'WHERE "site" =~ /^$site$/' in target["query"], panel["title"]
            assert re.search(
                r'FROM "qlik_sense_(server_license(_check)?|certificate)"', target["query"]
            )


@pytest.mark.fast
def test_the_prometheus_dashboard_uses_only_metrics_the_exporter_serves() -> None:
    families = r"(?:qlik_sense|qlik_cloud|licmon)_[a-z_]+"
    served = set(re.findall(rf'"({families})"', _collector_source()))
    board = dashboard("licmon-prometheus.json")
    used = {
        name
        for panel in board["panels"]
        for target in panel["targets"]
        for name in re.findall(rf"\b({families})", target["expr"])
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
        panels = dashboard(name)["panels"]
        before = panels[: [p["id"] for p in panels].index(panel["id"])]
        bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in before)
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


def last_checked(statuses: dict[str, Any]) -> dict[str, SiteState]:
    """Each site's (or tenant's) state after one successful check that read `status`."""
    return {
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
        for site, status in statuses.items()
    }


@contextmanager
def serving(
    pytestconfig: pytest.Config, families: list[Metric], first: str
) -> Iterator[Prometheus]:
    """A real Prometheus scraping an exposition of `families`, once it has scraped `first`."""
    if shutil.which("prometheus") is None:
        service_missing(pytestconfig, "Prometheus (Debian package 'prometheus')")
    registry = CollectorRegistry()
    registry.register(_Families(families))
    handler = type("Handler", (_Exposition,), {"body": generate_latest(registry)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    prometheus = Prometheus([f"127.0.0.1:{server.server_port}"])
    try:
        prometheus.start()
        wait_for(lambda: prometheus.query(first), 30, "a first scrape")
        yield prometheus
    finally:
        prometheus.stop()
        server.shutdown()
        server.server_close()


@pytest.fixture
def certificate_prometheus(pytestconfig: pytest.Config) -> Iterator[Prometheus]:
    """A real Prometheus scraping what the exporter serves of the certificates: the kind's
    families, made by its own code from each site's last successful check."""
    config = SimpleNamespace(
        sites=[SimpleNamespace(name=site, zone="dmz") for site in certificate_statuses()]
    )
    families = list(certificate_views.metrics(config, last_checked(certificate_statuses()), NOW))
    with serving(pytestconfig, families, "qlik_sense_certificate_expired") as prometheus:
        yield prometheus


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


# --- Qlik Cloud tenants -----------------------------------------------------------------
# Four tenants' license overviews, judged by the cloud kind's own `evaluate`: acme 20 days
# left (soon), two allotments, its professional one low; globex 5 days (critical), an
# allotment of no units; initech ended 3 days ago and `Expired`, no professional unit left;
# umbrella a trial with no end date and no allotment. Served as the exporter serves the
# kind's families, written to InfluxDB as the kind writes its points.

CLOUD_DAYS = {"acme": 20, "globex": 5, "initech": -3}  # umbrella: no end date
CLOUD_STATUS = {"acme": "Ok", "globex": "Ok", "initech": "Expired", "umbrella": "Ok"}
CLOUD_ALLOTMENTS = {  # (tenant, allotment): (units, units used)
    ("acme", "professional"): (100.0, 95.0),
    ("acme", "analyzer"): (50.0, 10.0),
    ("globex", "analyzer_time"): (0.0, 0.0),
    ("initech", "professional"): (10.0, 10.0),
}
CLOUD_POLICY = Policy((60, 30, 14, 7, 1), {"professional": Minimum(percent=10)})


def cloud_statuses() -> dict[str, CloudStatus]:
    statuses = {}
    for tenant, status in CLOUD_STATUS.items():
        days = CLOUD_DAYS.get(tenant)
        end = "" if days is None else not_after(days).isoformat().replace("+00:00", "Z")
        answer = {
            "status": status,
            "valid": f"2020-01-01T00:00:00Z/{end}",
            "licenseNumber": f"{tenant}-1",
            "trial": tenant == "umbrella",
            "product": "Qlik Cloud Analytics",
            "allotments": [
                {"name": name, "units": units, "unitsUsed": used}
                for (of, name), (units, used) in CLOUD_ALLOTMENTS.items()
                if of == tenant
            ],
        }
        statuses[tenant] = evaluate(tenant, answer, NOW, CLOUD_POLICY)
        assert statuses[tenant].error is None, statuses[tenant]
    return statuses


def cloud_panel(name: str, title: str) -> dict[str, Any]:
    (panel,) = [p for p in dashboard(name)["panels"] if p["title"] == title]
    return panel


def available() -> dict[tuple[str, str], float]:
    return {key: units - used for key, (units, used) in CLOUD_ALLOTMENTS.items()}


@pytest.mark.fast
def test_each_dashboard_shows_each_tenant_and_its_allotments() -> None:
    for name in BOARDS:
        licenses = cloud_panel(name, "Qlik Cloud licenses")
        allotments = cloud_panel(name, "Qlik Cloud allotments")
        # Side by side below every other panel, half the grid each.
        panels = dashboard(name)["panels"]
        others = [p for p in panels if p["id"] not in (licenses["id"], allotments["id"])]
        bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in others)
        assert licenses["gridPos"] == {"x": 0, "y": bottom, "w": 12, "h": 8}, name
        assert allotments["gridPos"] == {"x": 12, "y": bottom, "w": 12, "h": 8}, name
    influx = cloud_panel("licmon-influxdb.json", "Qlik Cloud licenses")
    (query,) = [t["query"] for t in influx["targets"]]
    assert 'FROM "qlik_cloud_license"' in query and query.endswith('GROUP BY "tenant"')
    influx = cloud_panel("licmon-influxdb.json", "Qlik Cloud allotments")
    (query,) = [t["query"] for t in influx["targets"]]
    assert 'FROM "qlik_cloud_allotment"' in query
    assert query.endswith('GROUP BY "tenant", "allotment"')
    # The Prometheus dashboard's one variable, $site, lists tenants too (the check health
    # metrics label a tenant `site`): the tenants' own families are matched by `tenant`.
    for title in ("Qlik Cloud licenses", "Qlik Cloud allotments"):
        for target in cloud_panel("licmon-prometheus.json", title)["targets"]:
            expr = target["expr"]
            assert '{tenant=~"$site"}' in expr and "{site=~" not in expr, (title, expr)


@pytest.fixture
def cloud_prometheus(pytestconfig: pytest.Config) -> Iterator[Prometheus]:
    """A real Prometheus scraping what the exporter serves of the tenants: the cloud kind's
    families, made by its own code from each tenant's last successful check."""
    config = SimpleNamespace(
        sites=[SimpleNamespace(name=tenant, zone="cloud") for tenant in CLOUD_STATUS]
    )
    families = list(cloud_views.metrics(config, last_checked(cloud_statuses()), NOW))
    with serving(pytestconfig, families, "qlik_cloud_license_ok") as prometheus:
        yield prometheus


def test_the_prometheus_cloud_panels_and_alerts_on_a_real_prometheus(
    cloud_prometheus: Prometheus,
) -> None:
    prometheus = cloud_prometheus
    values = {
        "site": regex_value(sorted(CLOUD_STATUS), promql=True),
        "__rate_interval": "5m",
        "__range": "5m",
        "__interval": "1s",
    }
    licenses = {}
    for _, target in targets(
        {"panels": [cloud_panel("licmon-prometheus.json", "Qlik Cloud licenses")]}
    ):
        found = prometheus.query(substitute(target["expr"], values))
        licenses[target["refId"]] = {r["metric"]["tenant"]: float(r["value"][1]) for r in found}
        assert {r["metric"]["zone"] for r in found} == {"cloud"}
    assert licenses["A"] == {tenant: float(days) for tenant, days in CLOUD_DAYS.items()}
    assert licenses["B"] == {
        tenant: not_after(days).timestamp() * 1000 for tenant, days in CLOUD_DAYS.items()
    }
    assert licenses["C"] == {
        tenant: float(status == "Ok") for tenant, status in CLOUD_STATUS.items()
    }
    allotments = {}
    panel = cloud_panel("licmon-prometheus.json", "Qlik Cloud allotments")
    for _, target in targets({"panels": [panel]}):
        found = prometheus.query(substitute(target["expr"], values))
        allotments[target["refId"]] = {
            (r["metric"]["tenant"], r["metric"]["allotment"]): float(r["value"][1]) for r in found
        }
    assert allotments["A"] == available()
    assert allotments["B"] == {key: units for key, (units, _) in CLOUD_ALLOTMENTS.items()}
    # The share available; none for an allotment of no units.
    assert allotments["C"] == {
        ("acme", "professional"): 5.0,
        ("acme", "analyzer"): 80.0,
        ("initech", "professional"): 0.0,
    }
    # One tenant chosen: the others are left out.
    chosen = values | {"site": regex_value(["initech"], promql=True)}
    found = prometheus.query(substitute(panel["targets"][0]["expr"], chosen))
    assert {r["metric"]["tenant"] for r in found} == {"initech"}

    # The alerts, as Prometheus itself evaluates them (none has a `for:`): one of each, the
    # expired tenant's NotOk only.
    def firing() -> set[tuple[str, str, str]]:
        alerts = requests.get(f"{prometheus.url}/api/v1/alerts", timeout=10).json()
        return {
            (a["labels"]["alertname"], a["labels"]["tenant"], a["labels"].get("allotment", ""))
            for a in alerts["data"]["alerts"]
            if a["state"] == "firing" and a["labels"]["alertname"].startswith("QlikCloud")
        }

    expected = {
        ("QlikCloudLicenseExpiringSoon", "acme", ""),
        ("QlikCloudLicenseExpiryCritical", "globex", ""),
        ("QlikCloudLicenseNotOk", "initech", ""),
        ("QlikCloudAllotmentLow", "acme", "professional"),
        ("QlikCloudAllotmentLow", "initech", "professional"),
    }
    wait_for(lambda: firing() == expected, 20, "the cloud alerts to fire", every=0.5)
    # The kind judges the same tenants alike: low where the alert says so.
    assert {(s.tenant, name) for s in cloud_statuses().values() for name in s.low} == {
        (tenant, allotment) for alert, tenant, allotment in expected if allotment
    }


def test_the_influxdb_cloud_panels_on_a_real_influxdb(
    influx: InfluxServer, dashboard_db: str
) -> None:
    db = dashboard_db
    # Two checks, the earlier with other numbers: the panels show the last.
    earlier = NOW - dt.timedelta(days=1)
    tags = (("butler_instance", "test"),)
    lines = []
    for status in cloud_statuses().values():
        for tick in (earlier, NOW):
            for point in QLIK_CLOUD.influx_points(status, tags, tick):
                fields = dict(point.fields)
                if tick == earlier:
                    for key in ("days_until_expiry", "available"):
                        if key in fields:
                            fields[key] = float(fields[key]) + 1
                    if "license_status" in fields:
                        fields["license_status"] = "Ok"
                lines.append(encode_line(point.measurement, point.tags, fields, point.timestamp))
    # A site's server license point: the Site variable lists sites and tenants.
    lines.append(
        f"qlik_sense_server_license,site=alpha days_until_expiry=20 {int(NOW.timestamp())}"
    )
    written = requests.post(
        f"{influx.url}/write",
        params={"db": db, "precision": "s"},
        data="\n".join(lines).encode(),
        timeout=10,
    )
    assert written.status_code == 204, written.text
    (variable,) = [
        v for v in dashboard("licmon-influxdb.json")["templating"]["list"] if v["name"] == "site"
    ]
    listed = {row["value"] for row in influx_rows(influx, variable["query"], db)}
    assert listed == {"alpha", *CLOUD_STATUS}
    values = {"site": ".*", "timeFilter": "time >= now() - 7d", "__interval": "1h"}
    (target,) = cloud_panel("licmon-influxdb.json", "Qlik Cloud licenses")["targets"]
    rows = influx_rows(influx, substitute(target["query"], values), db)
    got = {row["tenant"]: row for row in rows}
    assert {tenant: row["days_left"] for tenant, row in got.items()} == {
        tenant: CLOUD_DAYS.get(tenant) for tenant in CLOUD_STATUS
    }
    assert {tenant: row["license_status"] for tenant, row in got.items()} == CLOUD_STATUS
    assert got["acme"]["expiry_date"] == not_after(20).date().isoformat()
    assert got["umbrella"]["expiry_date"] is None
    (target,) = cloud_panel("licmon-influxdb.json", "Qlik Cloud allotments")["targets"]
    rows = influx_rows(influx, substitute(target["query"], values), db)
    got_allotments = {(row["tenant"], row["allotment"]): row for row in rows}
    assert {key: row["available"] for key, row in got_allotments.items()} == available()
    assert {key: (row["units"], row["units_used"]) for key, row in got_allotments.items()} == (
        CLOUD_ALLOTMENTS
    )
    # A multi-value selection, as Grafana writes it.
    chosen = substitute(target["query"], values | {"site": regex_value(["initech", "acme"])})
    assert {row["tenant"] for row in influx_rows(influx, chosen, db)} == {"initech", "acme"}
