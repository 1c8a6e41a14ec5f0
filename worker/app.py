"""The Celery application: `celery -A worker worker|beat|flower` with LICMON_CONFIG set."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_init

from worker import runtime
from worker.beat import beat_schedule
from worker.settings import celery_settings

TASK_MODULES = ("tasks.fetch", "tasks.deliver")

app = Celery("licmon")
app.config_from_object(celery_settings(runtime.config()))
app.conf.beat_schedule = beat_schedule(runtime.config())


@worker_init.connect
def import_tasks(**_: Any) -> None:
    # Only workers run tasks. Beat and Flower send and show them by name, and importing the
    # tasks would load every I/O library into them (beat: about 30 MB more).
    for module in TASK_MODULES:
        app.loader.import_task_module(module)
