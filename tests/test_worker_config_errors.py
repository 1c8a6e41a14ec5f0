"""A worker or beat with a broken config stops with the reason, never a traceback: started
as the images start it (`python -m worker`) or with `celery -A worker`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.pipeline_support import CELERY, LAUNCHER

STARTS = {"launcher": list(LAUNCHER), "celery": [CELERY, "-A", "worker"]}


@pytest.mark.parametrize("start", sorted(STARTS))
@pytest.mark.parametrize("role", ["worker", "beat"])
def test_bad_config_stops_celery_with_the_reason(tmp_path: Path, role: str, start: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "Butler:\n  qlikSenseLicense: {serverLicenseMonitor: {frequency: every fortnight}}\n"
    )
    done = subprocess.run(
        [*STARTS[start], role],
        env=os.environ | {"LICMON_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "configuration error" in done.stderr
    assert "serverLicenseMonitor.frequency: expected a later.js schedule" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("start", sorted(STARTS))
def test_missing_config_variable_is_named(start: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "LICMON_CONFIG"}
    done = subprocess.run(
        [*STARTS[start], "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "no config file: use --config or LICMON_CONFIG" in done.stderr
