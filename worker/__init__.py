"""Celery app, its settings, and beat's schedules for every site.

`app` is created on first access (`celery -A worker` asks for it), so importing a module of
this package, in a test or in `licmon`, loads neither Celery nor the configuration.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from worker.app import app

        return app
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
