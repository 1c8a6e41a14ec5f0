"""Every command's exit codes, in one place: what `docs/cli.md` lists and what the last
resort in `licmon.cli.main` returns for an exception nobody expected.

Monitoring plugins (Nagios, Icinga) read 1 as WARNING and 2 as CRITICAL, so an unexpected
error must end with the code the command already uses for "could not do it": 3 (UNKNOWN)
for the commands a plugin runs (`check`, `status`), 2 for those whose failure code is 2.
`tests/test_exit_codes.py` checks the table against the docs; `tests/hostile/
test_cli_last_resort.py` raises inside every command and checks its code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exits:
    # code -> what it means, as docs/cli.md says it
    codes: dict[int, str]
    # the code of an exception nobody expected: one of `codes`, never 1
    internal_error: int


_MONITOR = {0: "ok", 1: "warning", 2: "expired", 3: "unknown, or an unexpected error"}

EXIT_CODES: dict[str, Exits] = {
    "check": Exits(_MONITOR, 3),
    "status": Exits(_MONITOR, 3),
    "config": Exits({0: "valid", 2: "invalid, or an unexpected error"}, 2),
    "schedule": Exits({0: "ok", 2: "does not parse or cannot run, or an unexpected error"}, 2),
    "deadletters": Exits(
        {
            0: "done",
            1: "with --wait: a replay failed again or had not finished",
            2: "configuration or usage error",
            3: "Redis or the broker unreachable, or an unexpected error",
        },
        3,
    ),
    "qrs-simulator": Exits({0: "stopped", 2: "extra missing, or an unexpected error"}, 2),
    "exporter": Exits(
        {
            0: "stopped",
            2: "configuration or address error, or an unexpected error",
            3: "Redis unreachable at start",
        },
        2,
    ),
}
# Any command: argparse's own code for wrong arguments, and Ctrl-C.
WRONG_ARGUMENTS, INTERRUPTED = 2, 130
# A broken install, before any command is known.
DEFAULT_INTERNAL_ERROR_EXIT = 2
INTERNAL_ERROR_EXIT = {command: exits.internal_error for command, exits in EXIT_CODES.items()}
