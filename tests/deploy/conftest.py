"""`make deploy-test`: the images built once per run, one compose stack per run (module
scope), torn down with its volumes at the end. No Docker engine is a failure, not a skip."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.stack import REPO, Stack, docker_ready, offline_wanted

TIMINGS: dict[str, float] = {}
SESSION_STARTED = time.monotonic()


@pytest.fixture(scope="session")
def docker() -> None:
    why = docker_ready()
    if why:
        pytest.fail(f"the deploy tests need a running Docker engine: {why}")


@pytest.fixture(scope="session")
def offline(docker: None) -> bool:
    return offline_wanted()


@pytest.fixture(scope="session")
def marker_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """The CA bundle handed to the build: this machine's pip trust store (the package index
    sits behind a TLS-inspecting proxy here) plus a CA made for this run, whose body no
    image layer may contain."""
    import trustme

    directory = tmp_path_factory.mktemp("ca")
    marker = trustme.CA(organization_name="licmon deploy-test marker").cert_pem.bytes()
    host = os.environ.get("PIP_CERT") or _pip_config_cert()
    bundle = directory / "ca-bundle.pem"
    bundle.write_bytes((Path(host).read_bytes() + b"\n" if host else b"") + marker)
    body = b"".join(line for line in marker.splitlines() if not line.startswith(b"-----"))
    return bundle, body[:200]


def _pip_config_cert() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.cert"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


@pytest.fixture(scope="session")
def images(offline: bool, marker_ca: tuple[Path, bytes]) -> None:
    """`make images` (OFFLINE=1 where the upstream images are not here): the licmon images
    rebuilt without cache, so the marker CA really is handed to this build."""
    env = os.environ | {"CA_BUNDLE": str(marker_ca[0]), "NO_CACHE": "1"}
    env["OFFLINE"] = "1" if offline else ""
    log = REPO / ".licmon" / "deploy-test-build.log"
    log.parent.mkdir(exist_ok=True)
    env["BUILD_LOG"] = str(log)
    started = time.monotonic()
    done = subprocess.run(
        [str(REPO / "deploy/build-images.sh")],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    TIMINGS["images built (s)"] = time.monotonic() - started
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n(build log: {log})"


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="licmon-deploy-") as name:
        path = Path(name)
        path.chmod(0o755)  # the containers' users read the config mounted from here
        yield path


@pytest.fixture(scope="module")
def stack(images: None, offline: bool, workdir: Path) -> Iterator[Stack]:
    stack = Stack(workdir, offline)
    try:
        stack.healthy_seconds = stack.up()
        TIMINGS["compose up to all healthy (s)"] = stack.healthy_seconds
        yield stack
    finally:
        if os.environ.get("DEPLOY_TEST_KEEP") != "1":
            stack.down()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("deploy-test measurements")
        for name, value in TIMINGS.items():
            terminalreporter.write_line(f"{name}: {value:.1f}")
