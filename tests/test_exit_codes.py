"""One exit-code table for every command (licmon/cli/exits.py), and docs/cli.md saying the
same: each command has a row, and its "unexpected error" column is the code the last resort
in licmon/cli/main.py returns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from licmon.cli.exits import EXIT_CODES, INTERNAL_ERROR_EXIT
from licmon.cli.main import build_parser

pytestmark = pytest.mark.fast

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def _commands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return set(action.choices)  # type: ignore[arg-type]


def _documented() -> dict[str, set[int]]:
    """{command: the unexpected-error codes of its rows}"""
    found: dict[str, set[int]] = {}
    for line in DOC.read_text().splitlines():
        row = re.fullmatch(r"\| `([a-z-]+)[^`]*`[^|]* \| .* \| (\d) \|", line)
        if row:
            found.setdefault(row[1], set()).add(int(row[2]))
    return found


def test_every_command_has_one_entry() -> None:
    assert set(EXIT_CODES) == _commands()


def test_never_1_and_always_a_code_of_its_own() -> None:
    for command, exits in EXIT_CODES.items():
        assert exits.internal_error != 1, command
        assert exits.internal_error in exits.codes, command
        assert INTERNAL_ERROR_EXIT[command] == exits.internal_error


def test_the_docs_say_the_same() -> None:
    documented = _documented()
    names = {"config": "config"}  # `config validate` is documented by its full name
    for command, exits in EXIT_CODES.items():
        assert documented.get(names.get(command, command)) == {exits.internal_error}, command
