"""The Celery application: `celery -A worker worker|beat|flower` with LICMON_CONFIG set."""

from __future__ import annotations

from celery import Celery

from worker import runtime
from worker.beat import beat_schedule
from worker.settings import celery_settings

app = Celery("licmon", include=["tasks.fetch", "tasks.deliver"])
app.config_from_object(celery_settings(runtime.config()))
app.conf.beat_schedule = beat_schedule(runtime.config())
