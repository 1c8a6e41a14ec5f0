"""What Redis holds is read as untrusted input: anyone with access to it can write anything,
and one unreadable value must not hide the rest. Readers skip it (or read it as missing) and
name it here, once per process: the exporter reads everything at every scrape, and one
malformed field must not become a log line per scrape."""

from __future__ import annotations

import logging

from licmon.core.text import printable

log = logging.getLogger("licmon.state")

# What has been reported already: the exporter reads every state at every scrape, and one
# malformed field must not become a log line per scrape.
_reported: set[tuple[str, tuple[str, ...]]] = set()
_REPORTED_CAP = 1000


def malformed(key: str, fields: list[str]) -> None:
    """Log, once per process, that `key` holds something unreadable in `fields`."""
    entry = (key, tuple(fields))
    if entry in _reported:
        return
    if len(_reported) < _REPORTED_CAP:
        _reported.add(entry)
    log.warning(
        "%s: malformed %s in Redis, read as missing", printable(key, 200), ", ".join(fields)
    )
