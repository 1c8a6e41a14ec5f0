"""The docs a newcomer reads stay true: docs/configuration.md names every key of the schema
the loader validates (and no other, with its default), config/example.yaml loads and uses
every section, every command's `--help` lists its exit codes, and every relative link in
README.md and docs/*.md resolves, anchors included."""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from licmon.cli.exit_codes import COMMON_EXIT_CODES, EXIT_CODES, STOPPED_BY_SIGINT
from licmon.cli.main import build_parser, main
from licmon.config.keys import _is_list, models_in
from licmon.config.schema import document_model
from licmon.plugins import PLUGINS, load_config
from licmon.simulator import ensure_qlik_certs

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parent.parent
CONFIGURATION = REPO / "docs" / "configuration.md"
EXAMPLE = REPO / "config" / "example.yaml"


# --- the schema's keys ------------------------------------------------------------------------


def schema_keys() -> tuple[dict[str, Any], set[str]]:
    """(every key holding a value -> its field info, every section's path). A list of
    sections is written `key[]`; a list of plain values is a value."""
    root = document_model(PLUGINS)
    values: dict[str, Any] = {}
    sections: set[str] = set()

    def walk(section: type[BaseModel], prefix: str, seen: tuple[type, ...]) -> None:
        for name, info in section.model_fields.items():
            path = f"{prefix}.{name}" if prefix else name
            inner = [model for model in models_in(info.annotation) if model not in seen]
            if inner:
                path += "[]" if _is_list(info.annotation) else ""
                sections.add(path)
                walk(inner[0], path, (*seen, inner[0]))
            else:
                values[path] = info

    walk(root, "", (root,))
    return values, sections


def shown_default(info: Any) -> str:
    """A default as the doc writes it: `false`, `60`, `every 24 hours`, `[30, 14]`,
    *none*, *required*."""
    if info.default is PydanticUndefined:
        return shown_value(info.default_factory()) if info.default_factory else "*required*"
    return shown_value(info.default)


def shown_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return "*none*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list):
        return "`[" + ", ".join(str(item) for item in value) + "]`"
    return '`""`' if value == "" else f"`{value}`"


def expand(pattern: str) -> list[str]:
    """`a.{x, y}.b` -> `a.x.b`, `a.y.b` (every brace group, as a shell does)."""
    parts = re.split(r"\{([^{}]*)\}", pattern)
    choices = [
        [part] if i % 2 == 0 else [w.strip() for w in part.split(",")]
        for i, part in enumerate(parts)
    ]
    return ["".join(combination) for combination in itertools.product(*choices)]


def documented_keys(text: str) -> dict[str, tuple[str, str]]:
    """Every key the doc's key tables name -> (its default cell, the row's first cell). A
    key table is one whose header starts `| key | type | default |`."""
    found: dict[str, tuple[str, str]] = {}
    in_table = False
    for line in text.splitlines():
        if line.startswith("| key | type | default |"):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        if not in_table or line.startswith("| ---"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        first, default = cells[0], cells[2]
        names = re.findall(r"`([^`]+)`", first)
        assert len(names) == 1, f"one key (or one brace pattern) per row: {first}"
        for key in expand(names[0]):
            assert key not in found, f"{key} has two rows"
            found[key] = (default, first)
    return found


def test_configuration_md_names_every_key_of_the_schema_and_no_other() -> None:
    values, sections = schema_keys()
    documented = documented_keys(CONFIGURATION.read_text())
    missing = sorted(set(values) - set(documented))
    unknown = sorted(set(documented) - set(values) - sections)
    assert not missing, f"keys of the schema missing from docs/configuration.md: {missing}"
    assert not unknown, f"docs/configuration.md names keys the schema has not: {unknown}"


def test_configuration_md_gives_each_key_the_schemas_default() -> None:
    values, _ = schema_keys()
    wrong = [
        f"{key}: the doc says {cell}, the schema {shown_default(values[key])}"
        for key, (cell, _) in documented_keys(CONFIGURATION.read_text()).items()
        if key in values and cell != shown_default(values[key])
    ]
    assert not wrong, "\n".join(wrong)


def test_the_key_check_fails_on_a_missing_or_made_up_key() -> None:
    values, sections = schema_keys()
    text = CONFIGURATION.read_text()
    row = "| `licmon.beat.leaseSeconds` | seconds, 3 to 300 | `15` |"
    assert row in text
    assert "licmon.beat.leaseSeconds" not in documented_keys(text.replace(row, "| `x` | | |"))
    made_up = text.replace(row, "| `licmon.beat.leaseSecond` | seconds | `15` |")
    assert set(documented_keys(made_up)) - set(values) - sections == {"licmon.beat.leaseSecond"}


# --- config/example.yaml ----------------------------------------------------------------------

EXAMPLE_ENV = {
    "LICMON_INFLUXDB_TOKEN": "token",
    "LICMON_STATUS_WEBHOOK_URL_1": "https://hooks.example.com/status",
    "LICMON_ALERT_WEBHOOK_URL_1": "https://hooks.example.com/alert",
    "LICMON_APPRISE_URL_1": "json://hooks.example.com/licmon",
    "LICMON_CLOUD_API_KEY_1": "key",
}


@pytest.fixture
def example(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config/example.yaml in a folder of its own, beside real PEM files in certs/."""
    pems = ensure_qlik_certs(tmp_path_factory.mktemp("qlik-certs")).directory
    (tmp_path / "certs").mkdir()
    for name in ("client.pem", "client_key.pem", "root.pem"):
        shutil.copy(pems / name, tmp_path / "certs" / name)
    shutil.copy(EXAMPLE, tmp_path / "example.yaml")
    return tmp_path / "example.yaml"


def test_the_example_config_loads_with_all_four_kinds(example: Path) -> None:
    config = load_config(example, env=EXAMPLE_ENV)
    kinds = {name for site in config.sites for name, _ in site.checks}
    assert (
        kinds
        == {kind.name for kind in PLUGINS.kinds}
        == {
            "server_license",
            "access_license",
            "certificate",
            "qlik_cloud",
        }
    )
    assert [site.name for site in config.sites] == ["prod", "lab", "acme-cloud"]


def test_the_example_config_uses_every_section() -> None:
    """Every section of the schema, except the messages of `licmon.alerts.templates` (one
    shows the form) and Butler's legacy flat InfluxDB 1.x sections (`v1Config` holds them)."""
    _, sections = schema_keys()
    present: set[str] = set()

    def walk(value: Any, prefix: str) -> None:
        if not isinstance(value, dict):
            return
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(child, list) and child and isinstance(child[0], dict):
                present.add(f"{path}[]")
                for item in child:
                    walk(item, f"{path}[]")
            else:
                present.add(path)
                walk(child, path)

    walk(yaml.safe_load(EXAMPLE.read_text()), "")
    excused = {"Butler.influxDb.auth", "Butler.influxDb.retentionPolicy"}
    missing = sorted(
        section
        for section in sections - present - excused
        if not section.startswith("licmon.alerts.templates.")
    )
    assert not missing
    assert any(section.startswith("licmon.alerts.templates.") for section in present)


# --- exit codes in --help ---------------------------------------------------------------------

COMMANDS = [
    "check",
    "status",
    "config validate",
    "schedule",
    "deadletters",
    "exporter",
    "qrs-simulator",
]


def test_every_command_has_exit_codes() -> None:
    subparsers = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    names = set()
    for name, parser in subparsers.items():
        nested = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        names |= {f"{name} {sub}" for sub in nested[0].choices} if nested else {name}
    assert names == set(EXIT_CODES) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_the_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([*command.split(), "--help"])
    assert stopped.value.code == 0
    help_text = capsys.readouterr().out
    tail = help_text[help_text.index("\nexit codes:\n") :]
    flat = " ".join(tail.split())
    codes = dict(EXIT_CODES[command])
    codes |= {c: t for c, t in COMMON_EXIT_CODES if c not in codes}
    if command in STOPPED_BY_SIGINT:
        codes.pop(130)
    for code, text in codes.items():
        assert re.search(rf"(^|\n)  {code}\s", tail), f"{command}: exit {code} not listed"
        assert " ".join(text.split()) in flat


# --- links ------------------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found: set[str] = set()
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        found.add(slug)
    return found


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", doc_files(), ids=lambda path: path.name)
def test_relative_links_resolve(doc: Path) -> None:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    broken = []
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https://, mailto: ...
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, f"{doc.name}: " + "; ".join(broken)
