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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from licmon.cli.common import add_config_option, is_redis, load_or_report, open_redis, redis_problem
from licmon.cli.exit_codes import exit_help

if TYPE_CHECKING:
    from licmon.config import MonitorConfig
    from licmon.deadletters import DeadLetter, DeadLetters, Malformed

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
    if not is_redis(config):
        scheme = config.broker.url.get_secret_value().split(":", 1)[0]
        print(f"licmon deadletters: the broker is {scheme}://, not Redis: no list", file=sys.stderr)
        return EXIT_UNREACHABLE
    client = open_redis(config)
    letters = DeadLetters(client)
    try:
        if args.replay:
            return replay_all(args, config, client, letters)
        entries = [entry for entry in letters.newest(args.limit) if chosen(args, entry)]
        total = letters.count()
        cleared = letters.clear() if args.clear else 0
    except redis.RedisError as exc:
        problem = redis_problem(config, exc)
        print(f"licmon deadletters: cannot read Redis: {problem}", file=sys.stderr)
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


def chosen(args: argparse.Namespace, letter: DeadLetter | Malformed) -> bool:
    from licmon.deadletters import Malformed

    if isinstance(letter, Malformed):
        # Whose it is cannot be told: listed whatever the filter, never replayed.
        return True
    return (not args.site or letter.site == args.site) and (
        not args.destination or letter.destination == args.destination
    )


def describe(entry: DeadLetter | Malformed) -> str:
    """One line per entry, every field made printable: the list's text is whatever was
    written into Redis, escape codes included."""
    from licmon.core.text import printable
    from licmon.deadletters import Malformed

    if isinstance(entry, Malformed):
        return printable(entry.describe(), 300)
    where = "/".join(printable(part, 100) for part in (entry.destination, entry.target) if part)
    attempts = f"after {entry.attempts} attempt(s)"
    at, site, check = (printable(text, 100) for text in (entry.at, entry.site, entry.checkId))
    return f"{at}  {site}  {where}  {check}  {attempts}: {printable(entry.reason, 500)}"


# Per-letter lines of a replay: a list of 200,000 would otherwise print 200,000 of them.
SHOWN = 50


@dataclass
class Report:
    """What a replay did, as it goes: counts, the sent ids (for --wait), a few lines."""

    seen: int = 0
    sent: list[tuple[str, str]] = field(default_factory=list)  # (letter's task id, new id)
    skipped: Counter[str] = field(default_factory=Counter)
    lines: int = 0

    def show(self, entry: DeadLetter | Malformed, note: str) -> None:
        from licmon.core.text import printable

        self.lines += 1
        if self.lines <= SHOWN:
            print(f"{describe(entry)}\n    -> {printable(note, 300)}")

    def summary(self) -> str:
        skipped = sum(self.skipped.values())
        why = ", ".join(f"{reason} {count}" for reason, count in self.skipped.most_common())
        more = self.lines - SHOWN
        return (
            (f"({more} more letter lines not shown)\n" if more > 0 else "")
            + f"replayed {len(self.sent)} of {self.seen}; skipped {skipped}"
            + (f" ({why})" if why else "")
            + "; each leaves the list when it succeeds, one that fails again is dead-lettered "
            "again in its place"
        )


class Progress:
    """`replaying 1200/200000: sent 1100, skipped 100` on stderr, redrawn twice a second,
    on a terminal only (a log or a pipe gets the summary alone)."""

    def __init__(self, total: int, stream: Any = None) -> None:
        self._stream = stream or sys.stderr
        self._total = total
        self._enabled = self._stream.isatty()
        self._last = 0.0

    def update(self, report: Report, force: bool = False) -> None:
        now = time.monotonic()
        if not self._enabled or (not force and now - self._last < 0.5):
            return
        self._last = now
        skipped = sum(report.skipped.values())
        self._stream.write(
            f"\rreplaying {report.seen}/{self._total}: sent {len(report.sent)}, "
            f"skipped {skipped}\x1b[K"
        )
        self._stream.flush()

    def done(self, report: Report) -> None:
        if self._enabled:
            self.update(report, force=True)
            self._stream.write("\n")
            self._stream.flush()


def replay_all(
    args: argparse.Namespace, config: MonitorConfig, client: Any, letters: DeadLetters
) -> int:
    from kombu.exceptions import OperationalError

    from licmon.deadletters import Malformed

    report = Report()
    sender = Sender(config, client, letters)
    with letters.snapshot() as key:
        progress = Progress(int(client.llen(key)))
        try:
            for entry in letters.scan(key):
                if not chosen(args, entry):
                    continue
                report.seen += 1
                if isinstance(entry, Malformed):
                    report.skipped["malformed"] += 1
                    report.show(entry, "not replayed: malformed")
                else:
                    replay = sender.send_again(entry)
                    if replay.task_id:
                        report.sent.append((entry.taskId, replay.task_id))
                    else:
                        report.skipped[replay.reason] += 1
                    report.show(entry, replay.note)
                progress.update(report)
        except OperationalError as exc:
            progress.done(report)
            print(report.summary())
            print(f"licmon deadletters: cannot reach the broker: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        progress.done(report)
    if not report.seen:
        print("nothing to replay")
        return EXIT_OK
    print(report.summary())
    if not args.wait or not report.sent:
        return EXIT_OK
    return wait_for_outcomes(letters, report.sent, args.wait)


@dataclass
class Replay:
    task_id: str | None = None  # sent under this id; None: not sent
    note: str = ""
    reason: str = ""  # why not sent, in a word or two (the report counts them)


class Sender:
    """Sends letters again, one at a time, set up once (the app, the tasks, the rules)."""

    def __init__(self, config: MonitorConfig, client: Any, letters: DeadLetters) -> None:
        from licmon.claims import Claims
        from worker import runtime

        runtime.use(config)
        # The task modules register the tasks (their names, queues and claims) with the app.
        import tasks.deliver
        import tasks.fetch  # noqa: F401
        from worker.app import app

        self._app = app
        self._letters = letters
        self._claims = Claims(client, prefix="licmon:claim")
        self._rules = ReplayRules.of(config)

    def send_again(self, letter: DeadLetter) -> Replay:
        from licmon.claims import DONE

        if not letter.replayable:
            return Replay(
                note="not replayable: written by a version that kept no arguments",
                reason="no arguments",
            )
        problem = self._rules.problem(letter.task, letter.arguments)
        if problem:
            return Replay(note=f"not replayable: {problem}", reason="not ours or malformed")
        task = self._app.tasks[letter.task]
        arguments = dict(letter.arguments)
        name = task.claim_name(arguments) if arguments.get("check_id") else None
        holder = self._claims.holder(name) if name else None
        if holder == DONE:
            self._letters.remove(letter.taskId)
            return Replay(note="delivered after all (its claim is done): removed", reason="done")
        if holder == letter.taskId:
            # The task that gave up still holds its claim (its release was lost): free it.
            self._claims.release(name or "", letter.taskId)
        elif holder:
            return Replay(note=f"being done right now (claimed by {holder}): left", reason="busy")
        task_id = str(uuid.uuid4())
        self._app.send_task(
            letter.task,
            kwargs=arguments | {"replay_of": letter.taskId},
            task_id=task_id,
            # What Flower shows, as for the fan-out: not the whole status.
            kwargsrepr=repr(
                {k: arguments.get(k) for k in ("site", "target", "check_id") if k in arguments}
            ),
        )
        return Replay(task_id=task_id, note=f"sent again as {task_id}")


def _text(limit: int = 1000) -> Callable[[Any], bool]:
    from licmon.config.errors import has_controls

    return lambda value: isinstance(value, str) and len(value) <= limit and not has_controls(value)


def _instant_text(value: Any) -> bool:
    from datetime import datetime

    if not _text(40)(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _objects(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= 100 and all(_is_object(v) for v in value)


@dataclass(frozen=True)
class ReplayRules:
    """Which tasks a replay may send, and the shape of each one's arguments.

    A letter is text anyone with access to Redis can write: sent as it is, it could queue
    any task the worker knows (`celery.backend_cleanup` was queued so). Only this project's
    checks and deliveries are sent, with arguments of the types they take, naming a site,
    kind and destination of this configuration; anything else is skipped and reported."""

    # task name -> {argument: check}, and the arguments it cannot run without
    shapes: dict[str, dict[str, Callable[[Any], bool]]]
    required: dict[str, frozenset[str]]

    @classmethod
    def of(cls, config: MonitorConfig) -> ReplayRules:
        from worker.settings import DIGEST_DELIVERY_TASK, FETCH_TASK, delivery_task

        sites = {site.name for site in config.sites}
        kinds = {kind.name for kind in config.plugins.kinds}
        destinations = {destination.name for destination in config.plugins.destinations}

        def site(value: Any) -> bool:
            return value in sites

        def kind(value: Any) -> bool:
            return value is None or value in kinds

        fetch = {
            "site": site,
            "check_id": _optional(_text(300)),
            "tick": _optional(_instant_text),
            "kind": kind,
            "status": _optional(_is_object),
            "outcome": _optional(_is_object),
        }
        deliver = {
            "site": site,
            "target": _text(300),
            "status": _is_object,
            "check_id": _text(300),
            "tick": _instant_text,
            "kind": kind,
            "outcome": _optional(_is_object),
            "alerts": _optional(_objects),
        }
        digest = {
            "destination": lambda value: value in destinations,
            "target": _text(300),
            "tick": _instant_text,
            "message": _is_object,
        }
        shapes = {FETCH_TASK: fetch, DIGEST_DELIVERY_TASK: digest}
        required = {
            FETCH_TASK: frozenset({"site"}),
            DIGEST_DELIVERY_TASK: frozenset(digest),
        }
        for name in destinations:
            shapes[delivery_task(name)] = deliver
            required[delivery_task(name)] = frozenset(
                {"site", "target", "status", "check_id", "tick"}
            )
        return cls(shapes, required)

    def problem(self, task: str, arguments: dict[str, Any]) -> str | None:
        from licmon.core.text import printable

        shape = self.shapes.get(task)
        if shape is None:
            return f"{printable(task, 80)!r} is not a check or delivery task of licmon"
        unknown = sorted(set(arguments) - set(shape))
        if unknown:
            return f"unexpected argument {printable(unknown[0], 40)!r}"
        missing = sorted(self.required[task] - set(arguments))
        if missing:
            return f"no {missing[0]!r} argument"
        for name, value in arguments.items():
            if not shape[name](value):
                return f"argument {name!r} is not what {task} takes (or names no configured one)"
        return None


def wait_for_outcomes(letters: DeadLetters, sent: list[tuple[str, str]], seconds: float) -> int:
    """Until every replay succeeded (its letter gone) or failed again (a letter of its own)."""
    deadline = time.monotonic() + seconds
    while True:
        present = letters.task_ids()
        failed = [pair for pair in sent if pair[1] in present]
        pending = [pair for pair in sent if pair[0] in present and pair not in failed]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    succeeded = len(sent) - len(failed) - len(pending)
    print(f"{succeeded} succeeded, {len(failed)} failed again, {len(pending)} not finished")
    return EXIT_OK if not failed and not pending else EXIT_FAILED
