"""Every command's exit codes, in one table: `--help` prints them (`exit_help`), and
docs/cli.md says the same.

Keys are the command as typed after `licmon` (`"config validate"`). A command's own module
passes `**exit_help(name)` to `add_parser`; nothing else about the command is here.
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

# Codes every command shares: argparse refuses wrong arguments with 2, and Ctrl-C is 130.
COMMON_EXIT_CODES: list[tuple[int, str]] = [
    (2, "wrong arguments (usage error, from argparse)"),
    (130, "interrupted (Ctrl-C)"),
]

# Commands that stop cleanly (exit 0) on Ctrl-C.
STOPPED_BY_SIGINT = frozenset({"qrs-simulator"})

EXIT_CODES: dict[str, list[tuple[int, str]]] = {
    "check": [
        (0, "OK: every site checked is fine"),
        (
            1,
            "WARNING: days left <= the threshold (server license); an access type at or below "
            "its minimum; a certificate at or below its highest level; a Qlik Cloud "
            "subscription at or below its highest level or an allotment at its minimum",
        ),
        (
            2,
            "CRITICAL: a license or certificate has expired; a Qlik Cloud subscription is "
            "past its end or not Ok",
        ),
        (
            3,
            "UNKNOWN: a check failed (site or tenant unreadable), the deadline (-t) passed, "
            "the configuration is wrong, or an unexpected error",
        ),
    ],
    "status": [
        (0, "OK: every site's last check is fine (read from Redis, no QRS call)"),
        (1, "WARNING: as `licmon check`"),
        (2, "CRITICAL: as `licmon check`"),
        (
            3,
            "UNKNOWN: a site never checked, stale or failing, Redis unreadable, the deadline "
            "(-t) passed, the configuration is wrong, or an unexpected error",
        ),
    ],
    "config validate": [
        (0, "valid (warnings, if any, on stderr)"),
        (2, "invalid (every problem listed with its key path), or an unexpected error"),
    ],
    "schedule": [
        (0, "the next times printed"),
        (2, "the text does not parse or never fires, or an unexpected error"),
    ],
    "deadletters": [
        (0, "listed (or replayed; with --wait: every replay delivered)"),
        (1, "with --replay --wait: a replay failed again or had not finished in time"),
        (2, "the configuration is wrong"),
        (3, "Redis cannot be read, or an unexpected error"),
    ],
    "exporter": [
        (0, "stopped by SIGTERM"),
        (
            2,
            "the configuration is wrong, the broker is not Redis, the address cannot be "
            "served, or an unexpected error",
        ),
        (3, "Redis unreachable at start"),
    ],
    "qrs-simulator": [
        (0, "stopped (SIGINT or SIGTERM)"),
        (
            2,
            "the `simulator` extra is missing, nothing to serve (`--sites 0` alone), or an "
            "unexpected error",
        ),
    ],
}


class _EpilogFormatter(argparse.HelpFormatter):
    """Wraps the description as argparse does; keeps a text of several lines (the exit-code
    epilog) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def epilog(command: str) -> str:
    """The `exit codes:` block of `command`'s `--help`: its own codes, then the shared ones
    (a code it already lists gets the shared meaning added)."""
    rows = dict(EXIT_CODES[command])
    for code, text in COMMON_EXIT_CODES:
        if code == 130 and command in STOPPED_BY_SIGINT:
            continue
        rows[code] = f"{rows[code]}; also {text}" if code in rows else text
    lines = ["exit codes:"]
    for code, text in sorted(rows.items()):
        lines += textwrap.wrap(
            text, width=79, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7
        )
    return "\n".join(lines) + "\n"


def exit_help(command: str) -> dict[str, Any]:
    """Keyword arguments for `add_parser`: the epilog and the formatter that keeps it."""
    return {"epilog": epilog(command), "formatter_class": _EpilogFormatter}
