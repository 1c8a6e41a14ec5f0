"""The Celery application: `celery -A worker worker|beat|flower` with LICMON_CONFIG set.

Importing this module reads no file: the settings are computed from the config when Celery
first asks for them, so task modules import, and run in tests, without a config file.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    beat_init,
    celeryd_after_setup,
    worker_init,
    worker_process_shutdown,
    worker_shutdown,
)

from licmon.logs import quiet_libraries
from licmon.resources import close_process_resources
from worker import embedded_beat, runtime, transport, zones
from worker.recovery import ReapLostChildren, ReturnHeldMessages

# One redis-py client per channel for `redis://` and `rediss://` (worker/transport.py).
transport.install()

TASK_MODULES = ("tasks.fetch", "tasks.deliver", "tasks.digest")
# The I/O adapters: every kind's source and every destination's sender.
ADAPTER_PACKAGES = ("licmon.checks", "licmon.qrs", "licmon.senders")

app = Celery("licmon")


def _settings() -> dict[str, Any]:
    from worker.beat import beat_schedule
    from worker.settings import celery_settings

    config = runtime.config()
    return celery_settings(config) | {"beat_schedule": beat_schedule(config)}


app.add_defaults(_settings)
embedded_beat.install(app)
zones.install(app)


# `--loglevel=DEBUG` is for our code: libraries that print URLs, tokens and headers stay at
# WARNING (licmon.logs). Set here for Flower, which configures its own logging, and again
# each time Celery sets up a process's loggers (worker, beat, each prefork child).
quiet_libraries()


@after_setup_logger.connect
@after_setup_task_logger.connect
def hold_library_loggers(**_: Any) -> None:
    quiet_libraries()


# A retry held when Redis restarts runs seconds after it, not a visibility timeout later.
app.steps["consumer"].add(ReturnHeldMessages)
# A killed prefork child's task is redone within about a second, not up to 5 s later.
app.steps["worker"].add(ReapLostChildren)


@celeryd_after_setup.connect
@beat_init.connect
def log_version(sender: Any = None, **_: Any) -> None:
    # The first line an operator looks for when a fleet runs mixed releases; after Celery
    # set up logging, so it goes where the rest goes.
    from licmon.cli.main import version

    role = "beat" if type(sender).__name__ == "Service" else "worker"
    logging.getLogger("licmon").info("licmon %s %s starting", version(), role)


@celeryd_after_setup.connect
def check_persistence(**_: Any) -> None:
    # After Celery set up logging (the warning is a log line like any other), before the
    # pool and the consumer start (a refusal takes nothing from the queues).
    from worker.persistence import check_broker_persistence

    check_broker_persistence(runtime.config(), runtime.resources().redis, "worker")


@worker_init.connect
def import_tasks(**_: Any) -> None:
    # Only workers run tasks. Beat and Flower send and show them by name, and importing the
    # tasks would load every I/O library into them (beat: about 30 MB more).
    for module in TASK_MODULES:
        app.loader.import_task_module(module)
    # And what checks and deliveries import on first use (requests, urllib3, paho, each
    # kind's source): here, in the worker's main process, a prefork pool's children are
    # forked with them instead of each importing them again on its first task.
    for package in ADAPTER_PACKAGES:
        root = importlib.import_module(package)
        for found in pkgutil.walk_packages(root.__path__, f"{package}."):
            importlib.import_module(found.name)


@worker_process_shutdown.connect
@worker_shutdown.connect
def close_resources(**_: Any) -> None:
    close_process_resources()
