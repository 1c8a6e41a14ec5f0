"""A typo in our own `licmon` section is refused with its key path and the closest known key,
at every depth; Butler's sections keep ignoring the keys we do not read.

Before: `visibilityTimeoutSecond`, `thresholdDay` and the like were silently ignored, so a
typo quietly changed nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from licmon.config.schema import document_model
from licmon.plugins import PLUGINS
from tests.hostile.support import (
    EXIT_CHECK,
    EXIT_CONFIG_VALIDATE,
    both,
    dump,
    licmon,
    site_document,
)


def place(document: dict[str, Any], where: str, key: str) -> None:
    node: Any = document
    for part in where.split("."):
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[key] = 1


TYPOS = [
    ("licmon", "verifyHostName", "unknown key; did you mean 'verifyHostname'?"),
    ("licmon", "sties", "unknown key; did you mean 'sites'?"),
    ("licmon.sites.0", "thresholdDay", "unknown key; did you mean 'thresholdDays'?"),
    ("licmon.sites.0.cert", "clientCertKy", "unknown key; did you mean 'clientCertKey'?"),
    ("licmon.timeouts", "qrsReed", "unknown key; did you mean 'qrsRead'?"),
    ("licmon.retries", "retry", "unknown key; did you mean 'retries'?"),
    ("licmon.broker", "taskEvent", "unknown key; did you mean 'taskEvents'?"),
    (
        "licmon.broker",
        "visibilityTimeoutSecnds",
        "unknown key; did you mean 'visibilityTimeoutSeconds'?",
    ),
    ("licmon.mqtt", "passwrd", "unknown key; did you mean 'password'?"),
    ("licmon.mqtt.tls", "cafile", "unknown key; did you mean 'caFile'?"),
    ("licmon.apprise", "ulrs", "unknown key; did you mean 'urls'?"),
    (
        "licmon",
        "bogus",
        "unknown key; known keys here: accessAlerts, accessLicense, alerts, apprise,",
    ),
]


@pytest.mark.parametrize(("where", "key", "hint"), TYPOS, ids=[t[1] for t in TYPOS])
def test_a_typo_in_our_section_is_refused_with_a_suggestion(
    tmp_path: Path, certs: Path, where: str, key: str, hint: str
) -> None:
    document = site_document(certs)
    place(document, where, key)
    path = where.replace(".0", "[0]") + f".{key}"
    validate, check = both(dump(tmp_path, document), case=f"unknown key {key}")
    validate.refused(EXIT_CONFIG_VALIDATE, f"{path}: {hint}")
    check.refused(EXIT_CHECK, f"{path}: {hint}")


def test_every_licmon_section_a_destination_brings_is_checked() -> None:
    # Whatever a destination declares under `licmon` (mqtt, apprise) is walked.
    from licmon.config.keys import models_in

    licmon = models_in(document_model(PLUGINS).model_fields["licmon"].annotation)[0]
    assert {"mqtt", "apprise", "timeouts", "broker", "retries", "sites"} <= set(licmon.model_fields)


def test_unknown_keys_in_butler_sections_are_still_ignored(tmp_path: Path, certs: Path) -> None:
    document = site_document(certs)
    document["Butler"] |= {
        "logLevel": "info",
        "configQRS": {"host": "sense", "authentication": "certificates", "typo": 1},
        "influxDb": {"enable": False, "includeFields": {"activeDocs": True}},
    }
    document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]["thresholdDay"] = 3
    run = licmon("config", "validate", "--config", str(dump(tmp_path, document))).bounded()
    assert run.code == 0, run.err


def test_all_typos_are_reported_together_with_other_problems(tmp_path: Path, certs: Path) -> None:
    document = site_document(certs, port="http", thresholdDay=3)
    document["licmon"]["broker"] = {"urll": "redis://x"}
    run = licmon("config", "validate", "--config", str(dump(tmp_path, document)))
    run.refused(
        EXIT_CONFIG_VALIDATE,
        "3 problems",
        "licmon.sites[0].port: expected a whole number",
        "licmon.sites[0].thresholdDay: unknown key; did you mean 'thresholdDays'?",
        "licmon.broker.urll: unknown key; did you mean 'url'?",
    )
