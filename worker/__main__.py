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


def run() -> None:
    # As `celery` does: -P gevent/eventlet patch the standard library before Celery loads.
    maybe_patch_concurrency(sys.argv, ["-P"], ["--pool"])
    from celery.bin.base import CLIContext
    from celery.bin.beat import beat
    from celery.bin.worker import worker

    from worker.app import app

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.pass_context
    def main(ctx: click.Context) -> None:
        """A licmon worker or beat (the `celery -A worker` commands of the same names)."""
        ctx.obj = CLIContext(app=app, no_color=None, workdir=None)

    # What `celery` does for `-A` apps: the app's own options (--beat-thread, --zone).
    for name, command in (("worker", worker), ("beat", beat)):
        command.params.extend(app.user_options.get(name, []))
        command.params.extend(app.user_options.get("preload", []))
        main.add_command(command)
    main(prog_name="python -m worker", auto_envvar_prefix="CELERY")


if __name__ == "__main__":
    run()
