"""What each process of the deployment loads, read from the real processes as the images
start them (`python -m worker worker|beat`, worker/__main__.py).

Memory is what modules cost here (docs/benchmarks.md): beat loads no HTTP client and no
task, no process loads celery's REPL, and a prefork worker's main process loads every
source and sender before its children are forked from it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from licmon.simulator import SimulatedLicense, SiteSpec, run_simulator
from tests.http_receiver import HttpReceiver
from tests.pipeline_support import Deployment, Stack, in_days, wait_for

pytest_plugins = ["tests.pipeline_fixtures"]

# Imported by Python at start from PYTHONPATH; writes the process's modules when it exits
# (beat and worker exit through Python on SIGTERM). One file per process id.
SITECUSTOMIZE = """
import atexit, json, os, sys

def _write_modules():
    path = os.path.join(os.environ["LICMON_TEST_MODULES_DIR"], f"{os.getpid()}.json")
    with open(path, "w") as file:
        json.dump(sorted(sys.modules), file)

atexit.register(_write_modules)
"""
REPL = ("click_repl", "prompt_toolkit")
HTTP = ("requests", "urllib3", "paho")
ADAPTERS = ("licmon.qrs.client", "licmon.checks.qlik_cloud.source", "licmon.senders.webhook")


@pytest.fixture
def deployment(tmp_path_factory: pytest.TempPathFactory, stack: Stack) -> Iterator[Deployment]:
    site = SiteSpec("imports", license=SimulatedLicense(valid_to=[in_days(200)]))
    with run_simulator([site], stack.certs) as simulator:
        config = stack.document(
            simulator, status_hooks=[stack.hook("/imports")], frequency="every 1 hours"
        )
        deployment = Deployment(tmp_path_factory.mktemp("imports"), config)
        try:
            yield deployment
        finally:
            deployment.stop_all()


def _traced(deployment: Deployment) -> dict[str, str]:
    hooks = deployment.root / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (deployment.root / "modules").mkdir()
    path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "LICMON_TEST_MODULES_DIR": str(deployment.root / "modules")}


def _modules(deployment: Deployment, pid: int) -> set[str]:
    written = deployment.root / "modules" / f"{pid}.json"
    assert written.exists(), f"process {pid} wrote no module list"
    return set(json.loads(written.read_text()))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in modules]


def test_beat_and_threads_worker_load_what_they_use(
    deployment: Deployment, receiver: HttpReceiver
) -> None:
    env = _traced(deployment)
    worker = deployment.start("worker", "--pool", "threads", "-c", "2", ready="ready.", env=env)
    beat = deployment.start("beat", ready="beat: Starting", env=env)
    # Beat's startup check, delivered: the worker has checked and delivered once.
    wait_for(lambda: receiver.received("/imports"), 30, "the startup check's webhook")
    deployment.stop(beat)
    deployment.stop(worker)

    beat_modules = _modules(deployment, beat.pid)
    assert "worker.beat" in beat_modules  # the hook saw a beat
    assert _loaded(beat_modules, REPL) == []
    assert _loaded(beat_modules, HTTP) == []
    assert _loaded(beat_modules, ADAPTERS) == []
    assert [name for name in beat_modules if name.split(".")[0] == "tasks"] == []

    worker_modules = _modules(deployment, worker.pid)
    assert _loaded(worker_modules, REPL) == []
    assert _loaded(worker_modules, HTTP) == list(HTTP)


def test_prefork_children_are_forked_with_every_adapter(deployment: Deployment) -> None:
    env = _traced(deployment)
    worker = deployment.start("worker", "--pool", "prefork", "-c", "1", ready="ready.", env=env)
    deployment.stop(worker)
    # The main process runs no task: all of this was imported before the pool started.
    main = _modules(deployment, worker.pid)
    assert _loaded(main, HTTP) == list(HTTP)
    assert _loaded(main, ADAPTERS) == list(ADAPTERS)
    assert _loaded(main, REPL) == []
