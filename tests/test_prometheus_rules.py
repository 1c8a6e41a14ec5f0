"""The alert rules, checked and unit-tested by Prometheus' own promtool (Debian package
`prometheus`): every alert fires in `licmon-rules.test.yml` and stays quiet where it must.
(tests/test_observe_e2e.py evaluates the same expressions in a real Prometheus.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import service_missing

RULES_DIR = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
RULES = RULES_DIR / "licmon-rules.yml"
ALERTS = {
    "QlikLicenseExpiringSoon": "warning",
    "QlikLicenseExpiryCritical": "critical",
    "QlikLicenseExpired": "critical",
    "QlikLicenseCheckFailing": "warning",
    "QlikLicenseMonitorDown": "critical",
    "QlikLicenseDeadLetters": "warning",
    "QlikCertificateExpiringSoon": "warning",
    "QlikCertificateExpired": "critical",
    "QlikCloudLicenseExpiringSoon": "warning",
    "QlikCloudLicenseExpiryCritical": "critical",
    "QlikCloudLicenseNotOk": "critical",
    "QlikCloudAllotmentLow": "warning",
}
# A Qlik Cloud tenant's families are labelled `tenant` (and `allotment`), not `site`.
CLOUD_LABELS = {
    "QlikCloudLicenseExpiringSoon": ("tenant",),
    "QlikCloudLicenseExpiryCritical": ("tenant",),
    "QlikCloudLicenseNotOk": ("tenant",),
    "QlikCloudAllotmentLow": ("tenant", "allotment"),
}


@pytest.fixture(scope="module")
def promtool(pytestconfig: pytest.Config) -> str:
    found = shutil.which("promtool")
    if found is None:
        service_missing(pytestconfig, "promtool (Debian package 'prometheus')")
    assert found is not None
    return found


def rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def test_promtool_checks_the_rules(promtool: str) -> None:
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 19 rules found" in done.stdout


def test_promtool_unit_tests_pass_and_cover_every_alert(promtool: str) -> None:
    tests = RULES_DIR / "licmon-rules.test.yml"
    done = subprocess.run(
        [promtool, "test", "rules", tests.name], capture_output=True, text=True, cwd=RULES_DIR
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    fired = {
        case["alertname"]
        for test in yaml.safe_load(tests.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    quiet = {
        case["alertname"]
        for test in yaml.safe_load(tests.read_text())["tests"]
        for case in test["alert_rule_test"]
        if not case["exp_alerts"]
    }
    assert fired == set(ALERTS)
    # Those with a `for:` are also shown not firing before it has passed; the certificate
    # ones with certificates far from their end, the cloud ones with a tenant far from its
    # end and its allotment.
    assert quiet == {
        "QlikLicenseCheckFailing",
        "QlikLicenseMonitorDown",
        "QlikLicenseDeadLetters",
        "QlikCertificateExpiringSoon",
        "QlikCertificateExpired",
        *CLOUD_LABELS,
    }


def test_every_alert_has_its_severity_a_summary_and_a_description() -> None:
    alerts = [rule for rule in rules() if "alert" in rule]
    assert {rule["alert"] for rule in alerts} == set(ALERTS)
    for rule in alerts:
        assert rule["labels"]["severity"] == ALERTS[rule["alert"]]
        assert set(rule["annotations"]) == {"summary", "description"}
        if rule["alert"] in CLOUD_LABELS:  # a tenant's: see test_cloud_alerts_name_the_tenant
            continue
        if rule["alert"] != "QlikLicenseMonitorDown":  # about the whole monitor, no site
            assert "{{ $labels.site }}" in rule["annotations"]["summary"]
            assert "{{ $labels.site }}" in rule["annotations"]["description"]


def test_thresholds_live_in_one_place() -> None:
    recorded = {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}
    assert recorded == {
        "licmon:expiry_warning_days": "vector(30)",
        "licmon:expiry_critical_days": "vector(7)",
        "licmon:check_failing_periods": "vector(2)",
        "licmon:dead_letters_allowed": "vector(0)",
        "licmon:certificate_warning_days": "vector(14)",
        "licmon:cloud_allotment_low_percent": "vector(10)",
    }
    # No alert repeats one of those numbers in its expression (`* 100`, a percentage, is no
    # threshold).
    for rule in rules():
        if "alert" in rule:
            numbers = set(re.findall(r"(?<![\w.:])\d+(?:\.\d+)?(?![\w.])", rule["expr"]))
            assert not numbers & {"30", "7", "2", "14", "10"}, rule["alert"]


def test_certificate_alerts_name_the_certificate() -> None:
    for rule in rules():
        if rule.get("alert", "").startswith("QlikCertificate"):
            for text in rule["annotations"].values():
                for label in ("site", "endpoint", "subject"):
                    assert f"{{{{ $labels.{label} }}}}" in text, (rule["alert"], label)


def test_cloud_alerts_name_the_tenant() -> None:
    for rule in rules():
        if rule.get("alert", "").startswith("QlikCloud"):
            for text in rule["annotations"].values():
                for label in CLOUD_LABELS[rule["alert"]]:
                    assert f"{{{{ $labels.{label} }}}}" in text, (rule["alert"], label)
                assert "$labels.site" not in text, rule["alert"]  # no such label


def test_cloud_license_alerts_use_the_server_license_thresholds() -> None:
    # Days as the server license's (30, 7); the allotments' share its own recorded number.
    exprs = {rule["alert"]: rule["expr"] for rule in rules() if "alert" in rule}
    assert "scalar(licmon:expiry_warning_days)" in exprs["QlikCloudLicenseExpiringSoon"]
    for name in ("QlikCloudLicenseExpiringSoon", "QlikCloudLicenseExpiryCritical"):
        assert "scalar(licmon:expiry_critical_days)" in exprs[name]
        assert "qlik_cloud_license_ok == 1" in exprs[name]  # not Ok: QlikCloudLicenseNotOk
    assert "scalar(licmon:cloud_allotment_low_percent)" in exprs["QlikCloudAllotmentLow"]
    assert "qlik_cloud_allotment_units > 0" in exprs["QlikCloudAllotmentLow"]


def test_check_health_alerts_name_the_check_kind() -> None:
    # licmon_check_* carry `check` (server_license, access_license, certificate, qlik_cloud).
    for rule in rules():
        if rule.get("alert") == "QlikLicenseCheckFailing":
            for text in rule["annotations"].values():
                assert "{{ $labels.check }}" in text, rule["labels"]["reason"]
