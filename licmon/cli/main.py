"""Entry point of ``licmon``: one sub-command per module, each registering itself.

Sub-command modules keep their top-level imports light (no Celery, no requests) and import
what they need inside ``run``, so that ``licmon schedule`` starts fast.

No sub-command ever exits 1 by accident: Nagios reads 1 as WARNING. An exception nobody
expected is reported in one line on stderr and ends with the command's "could not do it"
code (`INTERNAL_ERROR_EXIT`); `-v` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from typing import TYPE_CHECKING

# The exit code of an unexpected exception, per command: one table for every command
# (licmon/cli/exits.py), which docs/cli.md lists. Never 1.
from licmon.cli.exits import DEFAULT_INTERNAL_ERROR_EXIT, INTERNAL_ERROR_EXIT, INTERRUPTED

if TYPE_CHECKING:
    from licmon.registry import Registry

# Each module has `register(subparsers)`; its parser sets `handler=run`, `run(args) -> int`.
SUBCOMMAND_MODULES = (
    "licmon.cli.check",
    "licmon.cli.config_cmd",
    "licmon.cli.schedule",
    "licmon.cli.simulator",
    "licmon.cli.deadletters",
    "licmon.cli.status",
    "licmon.cli.exporter",
)


def version() -> str:
    """The installed distribution's version (what `pip` installed, not a constant here)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("qlik-license-monitor")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser(plugins: Registry | None = None) -> argparse.ArgumentParser:
    """The parser; `plugins`: the check kinds and destinations commands use (None: the
    registered ones, `licmon.plugins`, imported only by the commands that read a config)."""
    parser = argparse.ArgumentParser(
        prog="licmon", description="Qlik Sense server license monitor (Butler-compatible)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    parser.add_argument(
        "-V", "--version", action="version", version=f"licmon {version()}", help="print the version"
    )
    parser.set_defaults(plugins=plugins)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None, plugins: Registry | None = None) -> int:
    try:
        parser = build_parser(plugins)
    except Exception as exc:  # a broken install: still not exit 1
        return _internal_error("", exc, DEFAULT_INTERNAL_ERROR_EXIT, verbose=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from licmon.logs import quiet_libraries

    quiet_libraries()
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as exc:  # the last resort: whatever a command did not expect
        code = INTERNAL_ERROR_EXIT.get(args.command, DEFAULT_INTERNAL_ERROR_EXIT)
        return _internal_error(args.command, exc, code, verbose=args.verbose)


def _internal_error(command: str, exc: BaseException, code: int, *, verbose: bool) -> int:
    # The exception's text is not printed: it may quote a header, a URL or a file's
    # content. Its type and where it was raised are enough to report it.
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {_short(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    name = f"licmon {command}".rstrip()
    print(
        f"{name}: internal error ({type(exc).__name__}{where}); exit {code}"
        + ("" if verbose else "; run with -v for the traceback"),
        file=sys.stderr,
    )
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    return code


def _short(filename: str) -> str:
    marker = filename.rfind("/licmon/")
    return filename[marker + 1 :] if marker >= 0 else filename.rsplit("/", 1)[-1]


def entry() -> None:
    """The `licmon` program: `main`, then the exit. After a run that abandoned threads at
    its deadline (licmon/cli/deadline.py) the process leaves with `os._exit`, its output
    flushed first, instead of waiting for them in the interpreter's shutdown."""
    import os

    code = main()
    from licmon.cli.deadline import ABANDONED

    if ABANDONED.is_set():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
