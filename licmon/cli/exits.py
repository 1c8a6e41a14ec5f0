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

from licmon.cli.exit_codes import EXIT_CODES as MEANINGS


@dataclass(frozen=True)
class Exits:
    # code -> what it means, as docs/cli.md says it
    codes: dict[int, str]
    # the code of an exception nobody expected: one of `codes`, never 1
    internal_error: int


# What each code means is said once, in licmon/cli/exit_codes.py (what `--help` prints);
# here, each command's code for an exception nobody expected. `config` is `config validate`.
_INTERNAL = {
    "check": 3,
    "status": 3,
    "config": 2,
    "schedule": 2,
    "deadletters": 3,
    "qrs-simulator": 2,
    "exporter": 2,
}
_HELP_NAMES = {"config": "config validate"}

EXIT_CODES: dict[str, Exits] = {
    command: Exits(dict(MEANINGS[_HELP_NAMES.get(command, command)]), code)
    for command, code in _INTERNAL.items()
}
# Any command: argparse's own code for wrong arguments, and Ctrl-C.
WRONG_ARGUMENTS, INTERRUPTED = 2, 130
# A broken install, before any command is known.
DEFAULT_INTERNAL_ERROR_EXIT = 2
INTERNAL_ERROR_EXIT = {command: exits.internal_error for command, exits in EXIT_CODES.items()}
