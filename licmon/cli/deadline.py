"""`-t SECONDS`: one deadline for a whole `licmon check` or `licmon status` run.

A monitoring plugin must answer before its scheduler kills it (Nagios and Icinga kill at
their own timeout and record a bare CRITICAL or UNKNOWN with no text). So the work runs in
daemon threads and the command stops waiting at the deadline, says what did not answer,
and exits 3. The threads are abandoned, not stopped: Python cannot stop a thread blocked in
a socket call, and the QRS client's own timeouts may be longer than what is left.

Abandoned threads would still hold the process: a `ThreadPoolExecutor`'s workers are joined
at interpreter exit (concurrent.futures registers that), so they are never used here; and
even daemon threads leave the interpreter's shutdown (atexit handlers, closing connection
pools they hold) waiting on locks they hold. `ABANDONED` tells the program's entry point
(`licmon.cli.main.entry`) to flush stdout/stderr and leave with `os._exit`, at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_SECONDS = 30.0
# Set once a run left a thread behind: the process must end with os._exit.
ABANDONED = threading.Event()


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())


def bounded_map(
    work: Callable[[T], R], items: Sequence[T], deadline: Deadline, workers: int = 16
) -> list[Future[R]]:
    """`work` over `items` in at most `workers` daemon threads; returns one future per item,
    waited for until the deadline (those not done then are abandoned, `ABANDONED` is set)."""
    futures: list[Future[R]] = [Future() for _ in items]
    waiting = list(zip(items, futures, strict=True))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not waiting:
                    return
                item, future = waiting.pop(0)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work(item))
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)

    for number in range(min(workers, len(items))):
        threading.Thread(target=worker, name=f"licmon-run-{number}", daemon=True).start()
    _, not_done = wait(futures, timeout=deadline.remaining())
    if not_done:
        ABANDONED.set()
        for future in not_done:
            future.cancel()  # those not started yet never will be
    return futures


def bounded_call(work: Callable[[], R], deadline: Deadline) -> Future[R]:
    """`work()` in a daemon thread, waited for until the deadline."""
    return bounded_map(lambda _: work(), [None], deadline)[0]
