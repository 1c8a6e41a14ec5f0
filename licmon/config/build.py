"""What a check kind or destination gets while it turns its sections into settings.

The checks that need more than one key at a time (a destination switched on without its
host, a certificate file that is missing) happen there, and report through the same
`Problems` sink as the schema's shape checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from licmon.config import pem
from licmon.config.errors import UNSET, Problems
from licmon.config.fields import check_host


@dataclass
class Build:
    document: Any
    base_dir: Path
    problems: Problems
    # How many sites the file configures: some defaults depend on it (MQTT site subtopics).
    site_count: int = 0
    # The check kind whose destination settings are being built (`for_kind`).
    kind: Any = None

    def for_kind(self, kind: Any) -> Build:
        """The same build, reading `kind`'s feature switches."""
        return replace(self, kind=kind)

    def feature(self, key: str) -> tuple[str, Any] | None:
        """(key path, section) of a destination's switch for this build's check kind; None
        when the kind has no such switch (the destination is off for it)."""
        if self.kind is None:
            raise RuntimeError("Build.feature needs a check kind: use Build.for_kind(kind)")
        found: tuple[str, Any] | None = self.kind.feature(self.document, key)
        return found

    def switched_on(self, key: str, connection: str, connection_on: bool, lost: str) -> Any | None:
        """The feature switch `key` when it and its `connection` section are both on.

        On with its connection off is valid but probably not what was meant: a warning
        saying what is `lost` (Butler has a switch in each place).
        """
        found = self.feature(key)
        if found is None:
            return None
        path, feature = found
        if not feature.enable:
            return None
        if not connection_on:
            self.warn(f"{path}.enable is true but {connection}.enable is false: {lost}")
            return None
        return feature

    def timeout(self, key: str) -> float:
        """`licmon.timeouts.<key>` in seconds."""
        return float(getattr(self.document.licmon.timeouts, key))

    def problem(self, path: str, message: str, value: Any = UNSET) -> None:
        self.problems.add(path, message, value)

    def warn(self, message: str) -> None:
        self.problems.warn(message)

    def host(self, path: str, value: str) -> bool:
        """Whether `value` is a host name or IP address; a problem if not."""
        problem = check_host(value.strip())
        if problem:
            self.problem(path, problem, value)
        return problem is None

    def file(
        self,
        path: str,
        value: Path | None,
        what: str,
        check: Callable[[Path], str | None] = pem.file_problem,
    ) -> Path | None:
        """`value` resolved against the config file's folder; a problem naming the file and
        what is wrong with it if `check` finds something (by default: it cannot be read)."""
        if value is None:
            return None
        resolved = value if value.is_absolute() else self.base_dir / value
        problem = check(resolved)
        if problem:
            self.problem(path, f"{what} file {pem.shown(resolved)} {problem}")
        return resolved

    def ca_file(self, path: str, value: Path | None, what: str = "CA") -> Path | None:
        """A file of CA certificates to trust, loaded as the TLS client will load it."""
        return self.file(path, value, what, pem.certificate_problem)

    def certificate_pair(
        self, cert_path: str, cert: Path | None, key_path: str, key: Path | None, what: str
    ) -> tuple[Path | None, Path | None]:
        """A certificate and its private key, each readable, and matching each other."""
        before = len(self.problems.problems)
        cert_file = self.file(cert_path, cert, f"{what} certificate", pem.certificate_problem)
        key_file = self.file(key_path, key, f"{what} key", pem.key_problem)
        if cert_file and key_file and len(self.problems.problems) == before:
            problem = pem.pair_problem(cert_file, key_file)
            if problem:
                self.problem(key_path, f"{what} key file {pem.shown(key_file)} {problem}")
        return cert_file, key_file
