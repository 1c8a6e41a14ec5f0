"""Every kind of check. Adding one is a module and a line here."""

from __future__ import annotations

from licmon.checks.access_license import ACCESS_LICENSE
from licmon.checks.base import CheckKind, Status
from licmon.checks.server_license import SERVER_LICENSE

CHECK_KINDS: tuple[CheckKind, ...] = (SERVER_LICENSE, ACCESS_LICENSE)
DEFAULT_KIND = SERVER_LICENSE.name


def check_kind(name: str) -> CheckKind:
    for kind in CHECK_KINDS:
        if kind.name == name:
            return kind
    raise KeyError(f"unknown check kind {name!r}")


__all__ = [
    "ACCESS_LICENSE",
    "CHECK_KINDS",
    "DEFAULT_KIND",
    "SERVER_LICENSE",
    "CheckKind",
    "Status",
    "check_kind",
]
