"""The arrows between layers run one way: checked on what each import really loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def loaded_after(statement: str, env: dict[str, str] | None = None) -> set[str]:
    code = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def roots(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_the_core_imports_nothing_of_config_celery_redis_or_the_network() -> None:
    modules = loaded_after(
        "import licmon.core.server_license, licmon.core.payloads, licmon.core.notices, "
        "licmon.laterjs"
    )
    ours = {name for name in modules if name.startswith("licmon.")}
    assert ours <= {name for name in ours if name.startswith(("licmon.core", "licmon.laterjs"))}
    for library in (
        "pydantic",
        "yaml",
        "celery",
        "kombu",
        "redis",
        "requests",
        "urllib3",
        "paho",
        "influxdb_client",
        "socket",
    ):
        assert library not in roots(modules), library


def test_influxdb_client_is_never_loaded_by_the_writers() -> None:
    # 2.x/3.x write through the bounded HTTP path too (licmon/senders/influxdb_v2.py).
    for version in (1, 2, 3):
        modules = loaded_after(
            "from licmon.senders.influxdb import InfluxSettings, make_influx_writer; "
            f"make_influx_writer(InfluxSettings(version={version}, url='http://127.0.0.1:1', "
            "timeout=1, org='o', bucket='b', database='d'))"
        )
        assert "influxdb_client" not in roots(modules) and "reactivex" not in roots(modules)


@pytest.mark.parametrize("module", ["tasks.fetch", "tasks.deliver", "worker.app"])
def test_task_modules_import_without_a_config_file(module: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "LICMON_CONFIG"}
    modules = loaded_after(f"import {module}", env=env)
    assert module in modules


def test_every_destination_is_wired_from_its_one_line_in_the_list() -> None:
    """What makes "a destination is one module plus one line" true: everything else (YAML
    sections, queue, route, task, beat-free fan-out) is derived from `DESTINATIONS`."""
    from licmon.config.schema import document_model
    from licmon.plugins import DESTINATIONS, PLUGINS
    from tasks.deliver import DELIVERY_TASKS
    from worker.settings import queues, routes

    document = document_model(PLUGINS)()
    butler, ours = document.Butler, document.licmon
    monitor = butler.qlikSenseLicense.serverLicenseMonitor
    queue_names = {queue.name for queue in queues()}
    for destination in DESTINATIONS:
        schema = destination.schema
        for key, model in schema.butler.items():
            assert isinstance(getattr(butler, key), model)
        for key, model in schema.licmon.items():
            assert isinstance(getattr(ours, key), model)
        if schema.feature is not None:
            assert isinstance(getattr(monitor.destination, schema.feature[0]), schema.feature[1])
        if schema.timeout is not None:
            assert getattr(ours.timeouts, schema.timeout[0]) == schema.timeout[1]
        assert f"deliver.{destination.name}" in queue_names
        assert routes()[f"deliver.{destination.name}"] == {"queue": f"deliver.{destination.name}"}
    # One task per destination (their names are checked where the app is configured:
    # tests/test_tasks.py delivers through them).
    assert set(DELIVERY_TASKS) == {destination.name for destination in DESTINATIONS}
