"""Redis's MONITOR, captured: every command a Redis ran (those inside Lua scripts too), and
one check's window of them, from the LPUSH of its fetch message to the acknowledgement of
its last delivery. Used by `tests/test_redis_cost.py` (the suite's bound on commands per
delivery) and `make bench` (bench/cost.py), so both count the same way."""

from __future__ import annotations

import re
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

QUEUES = ("license.fetch", "deliver.influxdb", "deliver.mqtt", "deliver.webhook")
_TAG = re.compile(r"delivery_tag\W+([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


@dataclass
class Command:
    at: float  # Redis's own clock (seconds)
    db: int
    client_type: str  # tcp, unix, lua
    client: str
    words: str


_MONITOR_LINE = re.compile(rb"^\+(\d+\.\d+) \[(\d+) ([^\]]*)\] (.*)$")


@dataclass
class RedisCommands:
    """MONITOR on the bench Redis (a raw socket, read in a thread); `window` cuts one
    check's commands out of the capture."""

    url: str
    commands: list[Command] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379))
        if parts.password:
            user = parts.username or "default"
            sock.sendall(_resp("AUTH", user, parts.password))
            sock.recv(1024)
        sock.sendall(_resp("MONITOR"))
        if not sock.recv(1024).startswith(b"+OK"):
            raise RuntimeError("Redis refused MONITOR")
        sock.settimeout(0.2)
        self._sock = sock

        def run() -> None:
            pending = b""
            while not self._stop.is_set():
                try:
                    chunk = sock.recv(1 << 20)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                lines = (pending + chunk).split(b"\r\n")
                pending = lines.pop()
                for line in lines:
                    found = _MONITOR_LINE.match(line)
                    if found is None:
                        continue
                    client = found.group(3).decode()
                    self.commands.append(
                        Command(
                            at=float(found.group(1)),
                            db=int(found.group(2)),
                            client_type="lua" if client == "lua" else "tcp",
                            client=client,
                            words=found.group(4).decode(errors="replace").replace('"', ""),
                        )
                    )

        self._thread = threading.Thread(target=run, name="redis-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()

    def window(
        self,
        first_publish: str,
        deliveries: int,
        queues: tuple[str, ...] = QUEUES,
        dbs: set[int] | None = None,
    ) -> dict[str, Any]:
        """Commands from the LPUSH carrying `first_publish` (a task id) to the acknowledgement
        of the last of the `deliveries` messages that task published, both included.

        Acknowledging a message on kombu's Redis transport removes its delivery tag from the
        `unacked` hash (HDEL); a published message carries its tag in its properties.
        Only commands on `dbs` (all when None) are kept: a shared Redis has other users.
        """
        commands = [c for c in self.commands if dbs is None or c.db in dbs]
        start = next(
            (
                i
                for i, c in enumerate(commands)
                if c.words.startswith("LPUSH ") and first_publish in c.words
            ),
            None,
        )
        if start is None:
            raise LookupError(f"no LPUSH of {first_publish} in {len(commands)} commands")
        fetch_tag = _TAG.search(commands[start].words)
        tags: list[str] = [fetch_tag.group(1)] if fetch_tag else []
        acks: dict[str, int] = {}
        for i in range(start + 1, len(commands)):
            c = commands[i]
            if c.client_type == "lua":
                continue
            if c.words.startswith("LPUSH ") and c.words.split(" ", 2)[1] in queues:
                found = _TAG.search(c.words)
                if found and found.group(1) not in tags:
                    tags.append(found.group(1))
            elif c.words.startswith("HDEL unacked "):
                tag = c.words.split()[-1]
                if tag in tags:
                    acks[tag] = i
            if len(tags) >= deliveries + 1 and all(tag in acks for tag in tags):
                break
        if len(tags) < deliveries + 1 or not all(tag in acks for tag in tags):
            raise LookupError(
                f"{first_publish}: {len(tags)} messages, {len(acks)} acknowledged in the capture"
            )
        end = max(acks.values())
        window = commands[start : end + 1]
        outside = [c for c in window if c.client_type != "lua"]
        names: dict[str, int] = defaultdict(int)
        for c in window:
            word = c.words.split(" ", 1)[0].upper()
            if word == "PUBLISH":
                channel = c.words.split(" ", 2)[1] if " " in c.words else ""
                word = "PUBLISH " + ("event" if "celeryev" in channel else "other")
            names[f"lua {word}" if c.client_type == "lua" else word] += 1
        return {
            # Every command Redis ran, those inside Lua scripts included.
            "commands": len(window),
            "lua_commands": len(window) - len(outside),
            "messages": len(tags),
            "seconds": round(window[-1].at - window[0].at, 4),
            "by_command": dict(sorted(names.items(), key=lambda kv: -kv[1])),
        }


def _resp(*words: str) -> bytes:
    out = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


@contextmanager
def monitoring(url: str) -> Iterator[RedisCommands]:
    counter = RedisCommands(url)
    try:
        yield counter
    finally:
        counter.stop()
