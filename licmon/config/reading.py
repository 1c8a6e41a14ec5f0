"""Reading a config file without trusting it: its size, its kind, and what its YAML expands to.

A config file is read by a monitoring plugin that must answer within seconds, so every
step is bounded before it starts:

- only a regular file is read (a FIFO would block forever, `/dev/zero` never ends, a
  directory is a mistake), and at most `MAX_BYTES` of it;
- the YAML is scanned as a stream of events first (no structure built), to refuse nesting
  deeper than `MAX_DEPTH`, a recursive alias, or aliases that would expand past
  `MAX_ALIAS_NODES` nodes ("billion laughs": a few hundred bytes that expand to gigabytes
  in whatever walks the structure afterwards: validation, error messages);
- only then is it loaded, with libyaml's safe loader when PyYAML has it (no Python tags).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
# Nodes that aliases may add by repeating what their anchor holds. A Butler file uses
# none; a hand-written file may share a few small blocks.
MAX_ALIAS_NODES = 10_000
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ReadError(Exception):
    """Why the file cannot be read; `where` is a line and column when known."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def read_config_text(path: Path) -> str:
    """The file's text, refusing anything but a regular UTF-8 file of at most MAX_BYTES."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ReadError(f"cannot read the file: {exc.strerror}") from None
    _require_regular(info.st_mode)
    if info.st_size > MAX_BYTES:
        raise ReadError(_too_large(info.st_size))
    try:
        # Non-blocking: a FIFO swapped in after the check above must not hang the open.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ReadError(f"cannot read the file: {exc.strerror}") from None
    with os.fdopen(descriptor, "rb") as file:
        _require_regular(os.fstat(file.fileno()).st_mode)
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ReadError(_too_large(len(data)))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(f"the file is not UTF-8 text (byte {exc.start})") from None


def _require_regular(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise ReadError("is a directory, not a config file")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise ReadError(f"is {kind}, not a regular file: refused")


def _too_large(size: int) -> str:
    return f"the file is larger than {MAX_BYTES // 1024} KiB ({size} bytes or more): refused"


def parse_yaml(text: str) -> Any:
    """The YAML document in `text`, after `check_shape` found it bounded."""
    if len(text) > MAX_BYTES:
        raise ReadError(_too_large(len(text.encode("utf-8"))))
    check_shape(text)
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc) from None
    except yaml.YAMLError as exc:
        raise ReadError(f"YAML syntax error: {exc}") from None
    except (ValueError, OverflowError, TypeError, RecursionError) as exc:
        # A scalar YAML types but cannot build: `2024-13-45` (a date), a 5000-digit integer.
        raise ReadError(f"a value cannot be read ({type(exc).__name__}: {exc})") from None


def check_shape(text: str) -> None:
    """Refuse deep nesting and alias expansion by reading events, never building nodes."""
    # Expanded size, in nodes, of every anchored node seen so far (None: not finished yet).
    anchors: dict[str, int | None] = {}
    # Per open collection: [anchor, node count so far].
    stack: list[list[Any]] = []
    added_by_aliases = 0
    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise ReadError(
                        f"YAML nested deeper than {MAX_DEPTH} levels: refused", _mark(event)
                    )
                stack.append([event.anchor, 1])
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, size = stack.pop()
                _finish(anchor, size, anchors, stack)
            elif isinstance(event, yaml.ScalarEvent):
                _finish(event.anchor, 1, anchors, stack)
            elif isinstance(event, yaml.AliasEvent):
                size = anchors.get(event.anchor)
                if event.anchor in anchors and size is None:
                    raise ReadError(
                        f"YAML alias *{event.anchor} refers to its own anchor: refused",
                        _mark(event),
                    )
                if size is None:
                    raise ReadError(f"YAML alias *{event.anchor} has no anchor", _mark(event))
                added_by_aliases += size
                if added_by_aliases > MAX_ALIAS_NODES:
                    raise ReadError(
                        f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes: refused "
                        "(write the values out instead of repeating anchors)",
                        _mark(event),
                    )
                if stack:
                    stack[-1][1] += size
            if isinstance(event, yaml.CollectionStartEvent) and event.anchor:
                anchors[event.anchor] = None  # open: an alias to it now would recurse
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc) from None
    except yaml.YAMLError as exc:
        raise ReadError(f"YAML syntax error: {exc}") from None
    finally:
        loader.dispose()


def _finish(
    anchor: str | None, size: int, anchors: dict[str, int | None], stack: list[list[Any]]
) -> None:
    if anchor:
        anchors[anchor] = size
    if stack:
        stack[-1][1] += size


def _mark(event: Any) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def _syntax_error(exc: yaml.MarkedYAMLError) -> ReadError:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
    reason = " ".join(part for part in (exc.context, exc.problem) if part)
    return ReadError(f"YAML syntax error: {reason}", where)
