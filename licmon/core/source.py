"""The one error family every check kind's data source raises.

A QRS call, a TLS handshake or a file read fails as a `SourceError`: `kind` is a stable
short code (logs, metrics, dead letters, the fleet view) and `transient` says whether trying
again later can help (a site that is down) or a person has to fix something (a certificate,
a permission). The pipeline and the CLI catch this family alone, whatever the kind.
"""

from __future__ import annotations


class SourceError(Exception):
    """A check's data source could not be read. ``str()`` is one line naming the site."""

    kind: str = "source_error"
    transient: bool = False
