"""What the plug-ins are, as a value: the check kinds and destinations a process runs with.

`licmon.plugins` assembles the real one; the config loader, the CLI, the exporter and the
tasks receive it (through `MonitorConfig.plugins`) and iterate over it, naming no kind or
destination. A test builds its own (a made-up kind beside the real ones) the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from licmon.core.templates import DEFAULTS, FIELDS, MessageTemplate

if TYPE_CHECKING:
    from licmon.checks.base import CheckKind
    from licmon.destinations.base import Destination


@dataclass(frozen=True)
class Registry:
    # The first kind is the default: `licmon check` without `--kind`, a fetch task sent by
    # hand with a site alone, a delivery queued before kinds existed.
    kinds: tuple[CheckKind, ...]
    destinations: tuple[Destination, ...]

    def __post_init__(self) -> None:
        for what, names in (
            ("check kind", [kind.name for kind in self.kinds]),
            ("destination", [destination.name for destination in self.destinations]),
        ):
            doubles = sorted({name for name in names if names.count(name) > 1})
            if doubles:
                raise ValueError(f"{what} registered twice: {', '.join(doubles)}")
        if not self.kinds:
            raise ValueError("no check kind is registered")

    @property
    def default_kind(self) -> CheckKind:
        return self.kinds[0]

    def kind(self, name: str | None) -> CheckKind:
        """The kind called `name` (None: the default). KeyError for an unknown one."""
        if name is None:
            return self.default_kind
        for kind in self.kinds:
            if name == kind.name or name in kind.aliases:
                return kind
        raise KeyError(f"unknown check kind {name!r}")

    def kind_or_none(self, name: str) -> CheckKind | None:
        try:
            return self.kind(name)
        except KeyError:
            return None

    def templates(self) -> dict[str, MessageTemplate]:
        """Every message's default texts: the common ones and each kind's own."""
        found = dict(DEFAULTS)
        for kind in self.kinds:
            found |= kind.templates
        return found

    def template_fields(self) -> dict[str, str]:
        """What templates may use: the common fields and each kind's own."""
        found = dict(FIELDS)
        for kind in self.kinds:
            found |= kind.template_fields
        return found

    def destination(self, name: str) -> Destination:
        for destination in self.destinations:
            if destination.name == name:
                return destination
        raise KeyError(f"unknown destination {name!r}")
