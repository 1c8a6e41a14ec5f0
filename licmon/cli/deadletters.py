"""`licmon deadletters`: what failed for good, newest first, from the Redis dead-letter list;
`--replay` sends it again once the cause is fixed.

A replay goes through the normal tasks and claims: the letter's task, with the task's own
arguments (same check id, so a receiver that did get it can drop it), under a new task id.
Before sending, the letter's claim is looked at: done means it was delivered after all (the
letter is removed, nothing is sent); still held by the task that gave up means that task's
release was lost (it is released, so the replay can take the claim); held by anyone else
means it is being done right now (the letter is left alone). The worker removes the letter
when the replay succeeds; a replay that fails again is dead-lettered again, in its place.

Exit status: 0 done (with --wait: every replay succeeded), 1 with --wait: a replay failed
again or had not finished, 2 a configuration or usage error, 3 Redis cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from licmon.cli.common import add_config_option, load_or_report
from licmon.cli.exit_codes import exit_help

if TYPE_CHECKING:
    from licmon.config import MonitorConfig
    from licmon.deadletters import DeadLetter, DeadLetters

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deadletters",
        help="list checks and deliveries that failed after every retry",
        **exit_help("deadletters"),
    )
    add_config_option(parser)
    parser.add_argument("--limit", type=int, default=50, help="newest N (default 50)")
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    parser.add_argument("--clear", action="store_true", help="empty the list after printing")
    parser.add_argument(
        "--replay",
        action="store_true",
        help="send them again, through the normal tasks and claims; each leaves the list "
        "when it succeeds",
    )
    parser.add_argument("--site", help="only the letters of this site")
    parser.add_argument(
        "--destination",
        help="only the letters of this destination (webhook, mqtt, influxdb; qrs: checks)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="with --replay: wait up to SECONDS for the outcomes (exit 1 if one failed "
        "again or had not finished)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import redis

    from licmon.deadletters import DeadLetters

    if args.clear and (args.site or args.destination or args.replay):
        print(
            "licmon deadletters: --clear empties the whole list; it takes no --site, "
            "--destination or --replay",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if args.wait and not args.replay:
        print("licmon deadletters: --wait goes with --replay", file=sys.stderr)
        return EXIT_CONFIG
    config = load_or_report(args)
    if config is None:
        return EXIT_CONFIG
    url = config.broker.url.get_secret_value()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        scheme = url.split(":", 1)[0]
        print(f"licmon deadletters: the broker is {scheme}://, not Redis: no list", file=sys.stderr)
        return EXIT_UNREACHABLE
    client = redis.Redis.from_url(url)
    letters = DeadLetters(client)
    try:
        if args.replay:
            return replay_all(args, config, client, letters)
        entries = [letter for letter in letters.newest(args.limit) if chosen(args, letter)]
        total = letters.count()
        cleared = letters.clear() if args.clear else 0
    except redis.RedisError as exc:
        print(f"licmon deadletters: cannot read Redis: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if args.json:
        print(json.dumps([entry.to_json() for entry in entries], indent=2))
    else:
        print(
            f"{total} dead letter{'s' if total != 1 else ''}"
            + (f", newest {len(entries)}:" if entries else "")
        )
        for entry in entries:
            print(describe(entry))
    if cleared:
        print(f"cleared {cleared}", file=sys.stderr)
    return EXIT_OK


def chosen(args: argparse.Namespace, letter: DeadLetter) -> bool:
    return (not args.site or letter.site == args.site) and (
        not args.destination or letter.destination == args.destination
    )


def describe(entry: DeadLetter) -> str:
    where = "/".join(part for part in (entry.destination, entry.target) if part)
    attempts = f"after {entry.attempts} attempt(s)"
    return f"{entry.at}  {entry.site}  {where}  {entry.checkId}  {attempts}: {entry.reason}"


@dataclass
class Replay:
    letter: DeadLetter
    task_id: str | None = None  # sent under this id; None: not sent
    note: str = ""


def replay_all(
    args: argparse.Namespace, config: MonitorConfig, client: Any, letters: DeadLetters
) -> int:
    from kombu.exceptions import OperationalError

    todo = [letter for letter in letters.all() if chosen(args, letter)]
    if not todo:
        print("nothing to replay")
        return EXIT_OK
    try:
        replays = [send_again(config, client, letters, letter) for letter in todo]
    except OperationalError as exc:
        print(f"licmon deadletters: cannot reach the broker: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    for item in replays:
        print(f"{describe(item.letter)}\n    -> {item.note}")
    sent = [item for item in replays if item.task_id]
    print(
        f"replayed {len(sent)} of {len(replays)}; each leaves the list when it succeeds, "
        "one that fails again is dead-lettered again in its place"
    )
    if not args.wait or not sent:
        return EXIT_OK
    return wait_for_outcomes(letters, sent, args.wait)


def send_again(
    config: MonitorConfig, client: Any, letters: DeadLetters, letter: DeadLetter
) -> Replay:
    from licmon.claims import DONE, Claims
    from worker import runtime

    if not letter.replayable:
        return Replay(letter, note="not replayable: written by a version that kept no arguments")
    runtime.use(config)
    # The task modules register the tasks (their names, queues and claims) with the app.
    import tasks.deliver
    import tasks.fetch  # noqa: F401
    from worker.app import app

    task = app.tasks.get(letter.task)
    if task is None:
        return Replay(letter, note=f"not replayable: no task named {letter.task!r}")
    arguments = dict(letter.arguments)
    claims = Claims(client, prefix="licmon:claim")
    name = task.claim_name(arguments) if arguments.get("check_id") else None
    holder = claims.holder(name) if name else None
    if holder == DONE:
        letters.remove(letter.taskId)
        return Replay(letter, note="delivered after all (its claim is done): removed")
    if holder == letter.taskId:
        # The task that gave up still holds its claim (its release was lost): free it.
        claims.release(name or "", letter.taskId)
    elif holder:
        return Replay(letter, note=f"being done right now (claimed by {holder}): left")
    task_id = str(uuid.uuid4())
    app.send_task(
        letter.task,
        kwargs=arguments | {"replay_of": letter.taskId},
        task_id=task_id,
        # What Flower shows, as for the fan-out: not the whole status.
        kwargsrepr=repr(
            {key: arguments.get(key) for key in ("site", "target", "check_id") if key in arguments}
        ),
    )
    return Replay(letter, task_id=task_id, note=f"sent again as {task_id}")


def wait_for_outcomes(letters: DeadLetters, sent: list[Replay], seconds: float) -> int:
    """Until every replay succeeded (its letter gone) or failed again (a letter of its own)."""
    deadline = time.monotonic() + seconds
    while True:
        present = {letter.taskId for letter in letters.all()}
        failed = [item for item in sent if item.task_id in present]
        pending = [item for item in sent if item.letter.taskId in present and item not in failed]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    succeeded = len(sent) - len(failed) - len(pending)
    print(f"{succeeded} succeeded, {len(failed)} failed again, {len(pending)} not finished")
    return EXIT_OK if not failed and not pending else EXIT_FAILED
