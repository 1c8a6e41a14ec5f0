"""What the dashboard and rule tests share: a real Prometheus server of the test's own, and
every panel's queries read from the dashboard JSON with its variables substituted as
Grafana substitutes them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.pipeline_support import wait_for
from tests.services import free_port, stop_process

REPO = Path(__file__).resolve().parent.parent
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
RULES = REPO / "deploy" / "prometheus" / "licmon-rules.yml"


def dashboard(name: str) -> dict[str, Any]:
    return json.loads((DASHBOARDS / name).read_text())


def targets(board: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(panel title, target) of every query of every panel."""
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target


def regex_value(values: list[str], promql: bool = False) -> str:
    """A multi-value variable in a regex, as Grafana writes it: `(a|b)`, each value escaped
    (InfluxQL: `/` too; PromQL: inside a string literal, so the backslash doubled)."""
    if promql:
        escaped = [re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", v) for v in values]
    else:
        escaped = [re.sub(r"([\\^$*+?.()|\[\]{}/])", r"\\\1", v) for v in values]
    return "(" + "|".join(escaped) + ")"


def substitute(query: str, values: dict[str, str]) -> str:
    # Longest names first: `$__rate_interval` before `$__range`, `$site` before `$s`.
    for name in sorted(values, key=len, reverse=True):
        query = query.replace(f"${name}", values[name])
    # Every variable was replaced (`$tag_x` is an alias, `$/` the regex's end).
    assert not re.search(r"\$(?!tag_)\w", query), query
    return query


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


@dataclass
class Prometheus:
    """A real Prometheus server (Debian's `prometheus`), scraping `targets` every second and
    evaluating licmon's rules every second; storage in a temporary folder."""

    targets: list[str]
    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="licmon-prom-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": "licmon", "static_configs": [{"targets": self.targets}]}
            ],
        }
        (self.root / "prometheus.yml").write_text(yaml.safe_dump(config))
        binary = shutil.which("prometheus")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={self.root / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=(self.root / "prometheus.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

        def ready() -> bool:
            try:
                return requests.get(f"{self.url}/-/ready", timeout=1).ok
            except requests.RequestException:
                return False

        wait_for(ready, 30, "Prometheus to be ready", every=0.2)

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = answer.json()
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def by_site(self, expr: str) -> dict[str, float]:
        return {
            item["metric"].get("site", ""): float(item["value"][1]) for item in self.query(expr)
        }

    def label_values(self, metric: str, label: str) -> list[str]:
        answer = requests.get(
            f"{self.url}/api/v1/label/{label}/values", params={"match[]": metric}, timeout=10
        )
        return list(answer.json()["data"])

    def firing(self) -> set[tuple[str, str]]:
        alerts = requests.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return {
            (alert["labels"]["alertname"], alert["labels"].get("site", ""))
            for alert in alerts
            if alert["state"] == "firing"
        }
