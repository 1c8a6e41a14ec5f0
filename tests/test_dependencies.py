"""The proven dependency set (constraints.txt) is the one installed and the one every way of
installing uses: `make` (test, demo, CI through .ci/run) and the Docker image."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parent.parent


def pins() -> dict[str, str]:
    found = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def test_the_broker_stack_is_the_proven_one() -> None:
    proven = pins()
    for package in ("celery", "kombu", "redis", "billiard", "vine"):
        assert version(package) == proven[package], (
            f"{package} {version(package)} is installed, constraints.txt proves "
            f"{proven[package]}: reinstall with `make install`, or move the pin and prove it "
            "with `make test STRICT=1`"
        )
    # celery 5.7.0 crashes on a Redis restart (see constraints.txt and tests/faults).
    assert proven["celery"] != "5.7.0"
    assert int(proven["kombu"].split(".")[1]) >= 7  # a restore sweep that can be set


def test_every_install_uses_the_constraints() -> None:
    makefile = (REPO / "Makefile").read_text()
    installs = re.findall(r"pip install [^\n]*", makefile)
    assert installs and all(
        "-c constraints.txt" in line for line in installs if "--upgrade pip" not in line
    ), installs
    dockerfile = (REPO / "Dockerfile").read_text()
    # Each RUN may hand pip the build's CA bundle first, so look for pip anywhere in it.
    docker_installs = re.findall(r"pip install [^\n]*", dockerfile)
    assert "constraints.txt" in dockerfile.split("pip install")[0]  # copied first
    assert docker_installs and all("-c constraints.txt" in line for line in docker_installs)
    # CI runs the README's command, which installs through the Makefile.
    assert "make test STRICT=1" in (REPO / ".ci" / "run").read_text()
