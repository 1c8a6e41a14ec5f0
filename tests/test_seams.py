"""The seams, read off the source: what imports what, and who may name a check kind.

- `licmon/config` never imports the plug-ins (`licmon.checks`, `licmon.destinations`,
  `licmon.plugins`), not even inside a function: the loader receives them.
- Outside `licmon/checks/`, `licmon/core/`, `licmon/simulator/` and the one assembly module
  (`licmon/plugins.py`), no code names a kind: the CLI, exporter, digest, beat and tasks
  iterate over the registered kinds.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from licmon.plugins import PLUGINS

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    path
    for folder in ("licmon", "worker", "tasks")
    for path in sorted((ROOT / folder).rglob("*.py"))
]
PLUGIN_PACKAGES = ("licmon.checks", "licmon.destinations", "licmon.plugins")
KIND_OWNERS = ("licmon/checks/", "licmon/core/", "licmon/simulator/", "licmon/plugins.py")
# Where a kind's name is an ordinary word in quotes: a PEM file holds a "certificate" block.
WORDS = ("licmon/config/pem.py",)


def imported(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` anywhere in `path` names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_the_config_never_imports_the_plug_ins() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported(path) if name.startswith(PLUGIN_PACKAGES)
        )
        for path in SOURCES
        if path.relative_to(ROOT).as_posix().startswith("licmon/config/")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def kind_names() -> re.Pattern[str]:
    """A kind's name as code names it: quoted, as an identifier when it cannot be a word
    (`server_license`), or as its constant (`CERTIFICATE`)."""
    names = [kind.name for kind in PLUGINS.kinds]
    quoted = [f"[\"']{re.escape(name)}[\"']" for name in names]
    identifiers = [rf"\b{re.escape(name)}\b" for name in names if "_" in name]
    constants = [rf"\b{re.escape(name.upper())}\b" for name in names]
    return re.compile("|".join([*quoted, *identifiers, *constants]))


def test_only_the_kinds_and_the_assembly_name_a_kind() -> None:
    pattern = kind_names()
    offenders = {}
    for path in SOURCES:
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(KIND_OWNERS) or relative in WORDS:
            continue
        hits = [
            f"{number}: {line.strip()}"
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if pattern.search(line)
        ]
        if hits:
            offenders[relative] = hits
    assert offenders == {}


def test_the_registry_lists_each_kind_once_with_its_edges() -> None:
    edges = ("check_report", "status_report", "metrics", "digest_rows", "fetch", "site_settings")
    for kind in PLUGINS.kinds:
        assert all(callable(getattr(kind, edge, None)) for edge in edges), kind.name
        assert isinstance(kind.not_checked, str) and kind.not_checked
    assert [kind.name for kind in PLUGINS.kinds] == [
        "server_license",
        "access_license",
        "certificate",
        "qlik_cloud",
    ]
