"""Celery app, its settings, and beat's schedules for every site."""

from worker.app import app

__all__ = ["app"]
