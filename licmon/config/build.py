"""What a check kind or destination gets while it turns its sections into settings.

The checks that need more than one key at a time (a destination switched on without its
host, a certificate file that is missing) happen there, and report through the same
`Problems` sink as the schema's shape checks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from licmon.config.errors import Problems

# Where the server license's monitor section is; destinations' feature switches sit under
# its `destination` key (a second check kind brings a section of its own).
MONITOR_PATH = "Butler.qlikSenseLicense.serverLicenseMonitor"


@dataclass
class Build:
    document: Any
    base_dir: Path
    problems: Problems
    # How many sites the file configures: some defaults depend on it (MQTT site subtopics).
    site_count: int = 0

    def feature(self, key: str) -> tuple[str, Any]:
        """(key path, section) of a destination's switch under the server license monitor."""
        monitor = self.document.Butler.qlikSenseLicense.serverLicenseMonitor
        return f"{MONITOR_PATH}.destination.{key}", getattr(monitor.destination, key)

    def switched_on(self, key: str, connection: str, connection_on: bool, lost: str) -> Any | None:
        """The feature switch `key` when it and its `connection` section are both on.

        On with its connection off is valid but probably not what was meant: a warning
        saying what is `lost` (Butler has a switch in each place).
        """
        path, feature = self.feature(key)
        if not feature.enable:
            return None
        if not connection_on:
            self.warn(f"{path}.enable is true but {connection}.enable is false: {lost}")
            return None
        return feature

    def timeout(self, key: str) -> float:
        """`licmon.timeouts.<key>` in seconds."""
        return float(getattr(self.document.licmon.timeouts, key))

    def problem(self, path: str, message: str) -> None:
        self.problems.add(path, message)

    def warn(self, message: str) -> None:
        self.problems.warn(message)

    def file(self, path: str, value: Path | None, what: str) -> Path | None:
        """`value` resolved against the config file's folder; a problem if it cannot be read."""
        if value is None:
            return None
        resolved = value if value.is_absolute() else self.base_dir / value
        if not resolved.is_file():
            self.problem(path, f"{what} file {str(resolved)!r} does not exist")
        elif not os.access(resolved, os.R_OK):
            self.problem(path, f"{what} file {str(resolved)!r} is not readable")
        return resolved
