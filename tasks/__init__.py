"""Celery tasks: fetch a site's license, deliver its status. Thin: the work is in licmon."""
