"""Fixtures of the fault suite: real processes only, each test on a Redis of its own.

Each test records what it measured with `report(...)`; `tests/conftest.py` prints the
figures of every test as one table at the end of the run (expected / delivered /
duplicated / lost, and recovery times).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from licmon.simulator import QlikCerts, ensure_qlik_certs
from tests.conftest import service_missing
from tests.faults.support import Tally
from tests.http_receiver import HttpReceiver, run_receiver


@pytest.fixture(scope="session")
def fault_tools(pytestconfig: pytest.Config) -> None:
    """redis-server (each test starts its own) and mosquitto must be installed."""
    for tool, package in (("redis-server", "redis-server"), ("mosquitto", "mosquitto")):
        if shutil.which(tool) is None:
            service_missing(pytestconfig, f"{tool} (Debian package '{package}')")


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("fault-certs"))


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from run_receiver()


@pytest.fixture
def root(tmp_path: Path, fault_tools: None) -> Path:
    return tmp_path


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[..., None]:
    """report(scenario, tally=None, **figures): one row of the fault table."""

    def record(scenario: str, tally: Tally | None = None, **figures: Any) -> None:
        row: dict[str, Any] = {"scenario": scenario}
        if tally is not None:
            row |= tally.figures()
        row |= figures
        request.node.user_properties.append(("fault", row))
        print(f"fault figures: {row}")

    return record
