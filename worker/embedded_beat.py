"""`python -m worker worker --beat-thread`: beat as a thread of the worker, for a small
deployment that wants one process (about 55 MB less than a separate beat process).

Celery's own `-B` forks beat into a second process; a thread shares the worker's imports.
Run it in one worker only: the thread is a full beat.
"""

from __future__ import annotations

from typing import Any

import click
from celery import Celery, bootsteps


class BeatThread(bootsteps.StartStopStep):
    label = "Beat thread"
    conditional = True

    def __init__(self, worker: Any, beat_thread: bool = False, **kwargs: Any) -> None:
        self.enabled = beat_thread
        super().__init__(worker, beat_thread=beat_thread, **kwargs)

    def create(self, worker: Any) -> Any:
        from celery.beat import EmbeddedService

        return EmbeddedService(
            worker.app,
            thread=True,
            schedule_filename=worker.app.conf.beat_schedule_filename,
            scheduler_cls=worker.app.conf.beat_scheduler,
        )


def install(app: Celery) -> None:
    app.user_options["worker"].add(
        click.Option(
            ["--beat-thread"],
            is_flag=True,
            default=False,
            help="Run beat as a thread of this worker (one process; run it in one worker only).",
        )
    )
    app.steps["worker"].add(BeatThread)
