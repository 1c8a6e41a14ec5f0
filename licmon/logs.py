"""The project's logging policy: libraries that print secrets stay at WARNING.

Below WARNING, urllib3 logs every request line (query-string tokens included), requests
and influxdb-client their headers (`Authorization: Token ...`), paho its CONNECT (the
username) and Apprise the URLs it parses (passwords included). `licmon -v` and
`celery ... --loglevel=DEBUG` are for our own code; these libraries go below WARNING only
when asked by name: LICMON_LIBRARY_LOG_LEVEL=DEBUG (or INFO), for a debugging session,
never in production.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

LIBRARY_LOGGERS = ("urllib3", "requests", "paho", "influxdb_client", "apprise")
LEVEL_VARIABLE = "LICMON_LIBRARY_LOG_LEVEL"
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def library_level(env: Mapping[str, str] | None = None) -> int:
    """WARNING, or the level LICMON_LIBRARY_LOG_LEVEL names (an unknown name: WARNING)."""
    name = (os.environ if env is None else env).get(LEVEL_VARIABLE, "").strip().upper()
    return int(getattr(logging, name)) if name in _LEVELS else logging.WARNING


def quiet_libraries(env: Mapping[str, str] | None = None) -> None:
    """Hold every library logger that may print a secret at WARNING (or the asked level),
    whatever level the root logger has."""
    level = library_level(env)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
