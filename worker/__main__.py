"""`python -m worker worker|beat [options]`: Celery's own `worker` and `beat` commands, with
every option `celery -A worker worker|beat` takes, started without the rest of `celery`'s
command line.

Why: `celery` loads all its subcommands before it runs one, and `celery shell`/`amqp` bring
click-repl and prompt_toolkit (about 9 MB resident in every worker and beat process that
never opens a prompt). The compose file and the images start processes this way;
`celery -A worker ...` stays for everything else (inspect, purge, Flower) and works as well.
"""

from __future__ import annotations

import sys

import click
from celery import maybe_patch_concurrency
from celery.bin.base import CLIContext
from celery.bin.beat import beat as beat_command
from celery.bin.worker import worker as worker_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """A licmon worker or beat (the `celery -A worker` commands of the same names)."""
    from worker.app import app

    ctx.obj = CLIContext(app=app, no_color=None, workdir=None)


def _commands() -> click.Group:
    from worker.app import app

    # What `celery` does for `-A` apps: the app's own options (--beat-thread, --zone).
    worker_command.params.extend(app.user_options.get("worker", []))
    beat_command.params.extend(app.user_options.get("beat", []))
    for command in (worker_command, beat_command):
        command.params.extend(app.user_options.get("preload", []))
        main.add_command(command)
    return main


if __name__ == "__main__":
    # As `celery` does: -P gevent/eventlet patch the standard library before anything loads.
    maybe_patch_concurrency(sys.argv, ["-P"], ["--pool"])
    sys.exit(_commands()(prog_name="python -m worker", auto_envvar_prefix="CELERY"))
