"""Dashboards and alert rules against real data: a Celery worker checks simulated sites over
mutual TLS and writes to a real InfluxDB 1.6; `licmon exporter` serves what the workers left
in Redis; a real Prometheus scrapes it every second with the alert rules loaded. Every
panel's query is read from the dashboard JSON, its variables substituted as Grafana does,
and run against InfluxDB or Prometheus; every alert's expression is evaluated by Prometheus.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from licmon.simulator import SimulatedLicense, SiteSpec, run_simulator
from licmon.state.lease import Lease
from tests.conftest import service_missing
from tests.fleet_support import LICMON
from tests.observe_support import (
    Prometheus,
    alert_rules,
    dashboard,
    regex_value,
    substitute,
    targets,
)
from tests.pipeline_support import (
    BROKER_URL,
    INFLUX_DB,
    TODAY,
    Deployment,
    Stack,
    client,
    fetch,
    in_days,
    wait_for,
)
from tests.services import InfluxServer, free_port, stop_process

pytest_plugins = ["tests.pipeline_fixtures"]

DAYS = {"alpha": 20, "week": 5, "lapsed": -10, "old": 100, "brief": 70}
SITES = [
    *(
        SiteSpec(name, license=SimulatedLicense(valid_to=[in_days(days)]))
        for name, days in DAYS.items()
    ),
    SiteSpec("forever", license=SimulatedLicense.perpetual()),
    SiteSpec("denied", fault="401"),
]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TICK = NOW.isoformat().replace("+00:00", "Z")
OLD_TICK = (NOW - dt.timedelta(days=3)).isoformat().replace("+00:00", "Z")
EARLIER_TICK = (NOW - dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z")
FAILING_ALERTS = "/observe/alert-500"


@dataclass
class Observed:
    deployment: Deployment
    prometheus: Prometheus
    results: dict[str, dict[str, Any]]
    influx: InfluxServer


@pytest.fixture(scope="module")
def observed(
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    stack: Stack,
) -> Iterator[Observed]:
    receiver, influx_server = stack.receiver, stack.influx
    if shutil.which("prometheus") is None:
        service_missing(pytestconfig, "Prometheus (Debian package 'prometheus')")
    if influx_server.process is None:
        influx_server.start()
    influx_server.query(f'DROP DATABASE "{INFLUX_DB}"')
    receiver.on(FAILING_ALERTS, status=500)
    with run_simulator(SITES, stack.certs) as simulator:
        config = stack.document(
            simulator,
            status_hooks=[stack.hook("/observe/status")],
            alert_hooks=[stack.hook(FAILING_ALERTS)],
        )
        for site in config["licmon"]["sites"]:
            if site["name"] == "brief":  # stale two seconds after its one check
                site["frequency"] = "every 1 second"
        deployment = Deployment(tmp_path_factory.mktemp("observe"), config)
        deployment.start_worker(2)
        port = free_port()
        exporter = subprocess.Popen(
            [LICMON, "exporter", "--config", str(deployment.config_path), "--port", str(port)],
            env=deployment.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        prometheus = Prometheus([f"127.0.0.1:{port}"])
        try:
            prometheus.start()
            # The counters increase while Prometheus watches (increase() sees them).
            wait_for(lambda: prometheus.query("licmon_redis_up == 1"), 30, "a first scrape")
            results = {}
            for site in [*DAYS, "forever", "denied"]:
                tick = OLD_TICK if site == "old" else TICK
                sent = fetch(site, f"{site}@{tick}", tick)
                if site != "denied":
                    results[site] = sent.get(timeout=60)
                    settled(deployment, results[site])
            # denied's QRS refuses it twice: two failed checks, each a point of the check
            # measurement at its own tick. Counted by the check's own give-up ("destination
            # qrs"): its failing alert to the webhook that answers 500 gives up too, soon
            # after, in a line of its own.
            checks_given_up = "gave up: site denied, destination qrs"
            wait_for(lambda: checks_given_up in deployment.logs(), 60, "denied's check")
            fetch("denied", f"denied@{EARLIER_TICK}", EARLIER_TICK)
            # A second check of "forever": its status webhook is held by its rateLimit.
            results["forever-2"] = fetch("forever", "forever@2", TICK).get(timeout=60)
            settled(deployment, results["forever-2"])
            # A delivery sent again once done (a resend, a second beat): its claim skips it.
            done = results["forever"]
            status = {k: v for k, v in done.items() if k not in ("checkId", "deliveries")}
            again = client(BROKER_URL).send_task(
                "deliver.influxdb",
                kwargs={"site": "forever", "target": "influxdb", "status": status,
                        "check_id": done["checkId"], "tick": TICK, "kind": "server_license"},
                queue="deliver.influxdb",
            )  # fmt: skip
            settled(deployment, {"deliveries": [{"taskId": again.id}]})
            wait_for(
                lambda: deployment.logs().count(checks_given_up) == 2,
                60,
                "denied's second check",
            )
            wait_for(
                lambda: deployment.logs().count("check of denied (") == 2,
                60,
                "denied's failed checks delivered",
            )
            # Prometheus has scraped every site's last check.
            wait_for(
                lambda: (
                    prometheus.by_site("licmon_last_check_timestamp_seconds").keys()
                    == {*DAYS, "forever", "denied"}
                ),
                30,
                "every site's check scraped",
                every=0.5,
            )
            # brief ("every 1 second") is stale two seconds after its one check.
            wait_for(
                lambda: (
                    prometheus.by_site(
                        'time() - licmon_last_success_timestamp_seconds{site="brief"}'
                    ).get("brief", 0)
                    > 3
                ),
                30,
                "brief to be stale",
                every=0.5,
            )
            yield Observed(deployment, prometheus, results, influx_server)
        finally:
            prometheus.stop()
            stop_process(exporter)
            deployment.stop_all()
            # The pipeline tests share this InfluxDB and count their sites' points.
            influx_server.query(f'DROP DATABASE "{INFLUX_DB}"')


def settled(deployment: Deployment, result: dict[str, Any]) -> None:
    """Every delivery of a check ended: succeeded, or failed after its retries."""

    def ended() -> bool:
        log = deployment.logs()
        return all(
            re.search(rf"\[{re.escape(d['taskId'])}\] (succeeded|raised|failed)", log)
            for d in result["deliveries"]
        )

    wait_for(ended, 60, "every delivery of the check to end")


# --- InfluxDB ---------------------------------------------------------------------------


def influx_rows(influx: InfluxServer, query: str) -> list[dict[str, Any]]:
    """Every row, each with its series' tags."""
    result = influx.query(query, db=INFLUX_DB)["results"][0]
    assert "error" not in result, (query, result)
    return [
        dict(zip(series["columns"], values, strict=True)) | series.get("tags", {})
        for series in result.get("series", [])
        for values in series["values"]
    ]


def test_every_influxdb_panel_query_returns_what_the_checks_wrote(observed: Observed) -> None:
    board = dashboard("licmon-influxdb.json")
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    site_rows = influx_rows(observed.influx, variables["site"]["query"])
    sites = sorted(row["value"] for row in site_rows)
    # Every site a check read (denied's QRS refused every check: no license point).
    assert sites == sorted([*DAYS, "forever"])
    assert variables["site"]["multi"] and variables["site"]["includeAll"]
    # "All" is the variable's allValue: sites whose checks failed before any license point
    # was written (denied) are in the check panels too.
    assert variables["site"]["allValue"] == ".*"
    values = {
        "site": ".*",
        "stale": variables["stale"]["current"]["value"],
        "timeFilter": "time >= now() - 7d",
        "__interval": "1h",
    }
    ran = Counter()
    for title, target in targets(board):
        assert target["rawQuery"] is True and target["datasource"]["uid"] == "licmon-influxdb"
        rows = influx_rows(observed.influx, substitute(target["query"], values))
        ran[title] += 1
        check_influx_panel(title, target["refId"], rows)
    assert set(ran) == {panel["title"] for panel in board["panels"]}
    # Two sites selected: `(alpha|week)`, as Grafana writes a multi-value selection.
    (days,) = [t for title, t in targets(board) if title == "Days left"]
    chosen = values | {"site": regex_value(["alpha", "week"])}
    rows = influx_rows(observed.influx, substitute(days["query"], chosen))
    assert {row["site"]: row["last"] for row in rows} == {"alpha": 20, "week": 5}


def check_influx_panel(title: str, ref: str, rows: list[dict[str, Any]]) -> None:
    by_site = {row["site"]: row for row in rows}
    if title in ("Days left", "Days left per site", "Days left over time"):
        # A perpetual license has no days (Butler leaves the field out): no series.
        assert {site: row["last"] for site, row in by_site.items()} == DAYS, title
    elif title == "Expiry dates":
        assert {site: row["days_left"] for site, row in by_site.items()} == DAYS | {"forever": None}
        assert by_site["alpha"]["expiry_date"] == in_days(20).isoformat()
        assert by_site["lapsed"]["expired"] is True and by_site["alpha"]["expired"] is False
        assert by_site["forever"]["expired"] is False
    elif title == "Last checked" and ref == "A":
        checked = {site: row["time"] for site, row in by_site.items()}
        assert checked["old"] == OLD_TICK and checked["alpha"] == TICK
    elif title == "Last checked" and ref == "B":
        # "old" was last written three days ago: no recent check, shown STALE.
        assert set(by_site) == {*DAYS, "forever"} - {"old"}
        assert all(row["recent_checks"] >= 1 for row in rows)
    elif title == "Check failures":
        assert {site for site in by_site} == {"denied"}
        assert sum(row["count"] for row in rows) == 2
    elif title == "Certificates":
        # The simulated fleet checks no certificates (tests/test_grafana_dashboards.py runs
        # this panel's query on certificate points).
        assert rows == []
    elif title in ("Qlik Cloud licenses", "Qlik Cloud allotments"):
        # No Qlik Cloud tenant is configured (tests/test_grafana_dashboards.py runs these
        # panels' queries on the cloud kind's points).
        assert rows == []
    elif title == "Failed checks per site":
        assert [row | {"time": None} for row in rows] == [
            {"time": None, "failures": 2, "last_error": "auth_rejected", "site": "denied"}
        ]
    else:
        raise AssertionError(f"no expectation for panel {title!r}")


# --- Prometheus -------------------------------------------------------------------------


def test_every_prometheus_panel_query_returns_what_the_exporter_read(observed: Observed) -> None:
    prometheus, results = observed.prometheus, observed.results
    board = dashboard("licmon-prometheus.json")
    (variable,) = board["templating"]["list"]
    metric, label = variable["definition"].removeprefix("label_values(").rstrip(")").split(", ")
    sites = sorted(prometheus.label_values(metric, label))
    assert sites == sorted([*DAYS, "forever", "denied"])
    values = {
        "site": regex_value(sites, promql=True),
        "__rate_interval": "5m",
        "__range": "5m",
        "__interval": "1s",
    }
    # Wait until Prometheus has scraped the counters' final values.
    expected = expected_deliveries(results)

    got: dict[tuple[str, str], float] = {}

    def counted() -> bool:
        found = prometheus.query("sum by (destination, outcome) (licmon_deliveries_total)")
        got.clear()
        got.update({(r["metric"]["destination"], r["metric"]["outcome"]): float(r["value"][1])
                    for r in found})  # fmt: skip
        return got == expected

    try:
        wait_for(counted, 30, "the delivery counters", every=0.5)
    except AssertionError:
        assert got == expected  # shows the difference
        raise
    ran = Counter()
    for title, target in targets(board):
        assert target["datasource"]["uid"] == "licmon-prometheus"
        result = prometheus.query(substitute(target["expr"], values))
        ran[title] += 1
        check_prometheus_panel(title, target["refId"], result, expected)
    assert set(ran) == {panel["title"] for panel in board["panels"]}


def expected_deliveries(results: dict[str, dict[str, Any]]) -> dict[tuple[str, str], float]:
    planned = Counter(
        (delivery["destination"], delivery["target"])
        for result in results.values()
        for delivery in result["deliveries"]
    )
    # Every alert webhook call is answered 500: three license alerts, and denied's "check
    # failing" (its first check; the second is still failing: nothing new to say).
    license_alerts = planned[("webhook", "alert-1")]
    alerts = license_alerts + 1
    held = 1  # forever's second status webhook, within its rateLimit
    delivered = Counter()
    for (destination, _), count in planned.items():
        delivered[destination] += count
    table = {
        (destination, outcome): 0.0
        for destination in ("influxdb", "mqtt", "webhook")
        for outcome in ("delivered", "skipped", "retried", "dead_lettered")
    }
    # denied's two failed checks are recorded in InfluxDB's check measurement too.
    table[("influxdb", "delivered")] = delivered["influxdb"] + 2
    table[("influxdb", "skipped")] = 1  # forever's, sent again after it was done
    table[("mqtt", "delivered")] = delivered["mqtt"] + 1  # denied's "check failing"
    table[("webhook", "delivered")] = delivered["webhook"] - license_alerts - held
    table[("webhook", "skipped")] = held
    table[("webhook", "retried")] = alerts  # one declared retry each (retries: 1)
    table[("webhook", "dead_lettered")] = alerts
    assert alerts == 4  # alpha, week, lapsed, and denied's "check failing"
    return table


def series(result: list[dict[str, Any]]) -> dict[str, float]:
    return {item["metric"].get("site", ""): float(item["value"][1]) for item in result}


def check_prometheus_panel(
    title: str, ref: str, result: list[dict[str, Any]], deliveries: dict[tuple[str, str], float]
) -> None:
    if title in ("Days left", "Days left per site", "Days left over time"):
        assert series(result) == DAYS, title
    elif title == "Expiry dates" and ref == "A":
        midnight = dt.datetime.combine(in_days(20), dt.time(0), tzinfo=dt.UTC)
        assert series(result)["alpha"] == midnight.timestamp() * 1000
        assert set(series(result)) == set(DAYS)
    elif title == "Expiry dates" and ref == "B":
        assert series(result) == DAYS
    elif title == "Expiry dates" and ref == "C":
        assert series(result) == dict.fromkeys(DAYS, 0) | {"forever": 1}
    elif title == "Last checked" and ref == "A":
        ages = series(result)
        assert set(ages) == {*DAYS, "forever", "denied"}
        assert all(0 <= age < 300 for age in ages.values())
    elif title == "Last checked" and ref == "B":
        periods = series(result)
        assert periods["brief"] >= 2  # "every 1 second", checked once: stale
        assert all(periods[site] < 1 for site in ("alpha", "old", "forever"))
        assert "denied" not in periods  # never succeeded
    elif title == "Last checked" and ref == "C":
        assert series(result) == dict.fromkeys([*DAYS, "forever"], 1) | {"denied": 0}
    elif title == "Check failures":
        found = {(r["metric"]["site"], r["metric"]["kind"]): float(r["value"][1]) for r in result}
        assert (
            set(found) == {("denied", "auth_rejected")} and found[("denied", "auth_rejected")] > 0
        )
    elif title == "Deliveries by outcome":
        got = {(r["metric"]["destination"], r["metric"]["outcome"]): float(r["value"][1])
               for r in result}  # fmt: skip
        assert got == deliveries
    elif title == "Queue lengths":
        queues = {r["metric"]["queue"]: float(r["value"][1]) for r in result}
        assert queues == {
            "license.fetch": 0, "deliver.influxdb": 0, "deliver.mqtt": 0, "deliver.webhook": 0,
        }  # fmt: skip
    elif title == "Dead letters":
        # The four alert webhooks, and denied's two checks.
        assert [float(r["value"][1]) for r in result] == [6]
    elif title == "Beat leader lease age":
        assert result == []  # no beat runs here: "NO LEADER"
    elif title == "Certificates":
        # The simulated fleet checks no certificates (tests/test_grafana_dashboards.py runs
        # this panel's queries on the certificate kind's families).
        assert result == []
    elif title in ("Qlik Cloud licenses", "Qlik Cloud allotments"):
        # No Qlik Cloud tenant is configured (tests/test_grafana_dashboards.py runs these
        # panels' queries on the cloud kind's families).
        assert result == []
    else:
        raise AssertionError(f"no expectation for panel {title!r}")


def test_every_alert_rule_finds_its_sites(observed: Observed, broker: redis.Redis) -> None:
    prometheus = observed.prometheus
    rules = {(rule["alert"], rule["labels"].get("reason")): rule for rule in alert_rules()}

    def sites_of(alert: str, reason: str | None = None) -> set[str]:
        return set(prometheus.by_site(rules[(alert, reason)]["expr"]))

    assert sites_of("QlikLicenseExpiringSoon") == {"alpha"}
    assert sites_of("QlikLicenseExpiryCritical") == {"week"}
    assert sites_of("QlikLicenseExpired") == {"lapsed"}
    assert sites_of("QlikLicenseCheckFailing", "failing") == {"denied"}
    assert sites_of("QlikLicenseCheckFailing", "stale") == {"brief"}
    assert sites_of("QlikLicenseDeadLetters") == {"alpha", "week", "lapsed", "denied"}
    # No beat leads: the monitor is down (after 10 minutes) ...
    assert prometheus.query(rules[("QlikLicenseMonitorDown", None)]["expr"]) != []
    # ... until one holds the lease, as a leading beat does.
    Lease(redis.Redis.from_url(BROKER_URL), 30).hold("test-beat", "observe-test", 1)
    wait_for(
        lambda: prometheus.query(rules[("QlikLicenseMonitorDown", None)]["expr"]) == [],
        20,
        "the lease to be scraped",
        every=0.5,
    )
    # Those without a `for:` fire at once, as Prometheus itself evaluates them.
    wait_for(
        lambda: (
            {
                ("QlikLicenseExpiringSoon", "alpha"),
                ("QlikLicenseExpiryCritical", "week"),
                ("QlikLicenseExpired", "lapsed"),
                ("QlikLicenseCheckFailing", "brief"),
            }
            <= prometheus.firing()
        ),
        20,
        "the alerts without a `for:` to fire",
        every=0.5,
    )
    assert dt.datetime.now(dt.UTC).date() == TODAY, "the test ran across midnight UTC"
