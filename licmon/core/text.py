"""Text that came from the network, made safe to print, log or put in a message.

A QRS error page, an InfluxDB error body or a license field is whatever the peer chose to
send: terminal escape sequences (which set a terminal's title or clear its screen), BEL,
bidirectional overrides, lone surrogates (which make a log handler's encoder raise), or
megabytes of it. `printable` keeps one line of visible characters, capped.
"""

from __future__ import annotations

import re
import unicodedata

# The sequences terminals act on (ECMA-48): CSI `ESC [ ... final`, OSC/DCS/APC/PM/SOS strings
# up to BEL or ST, other two-character `ESC x`, and the 8-bit C1 forms of CSI and OSC.
# Removed whole so no stray `[31m` remains; any control character left is dropped below.
_ESCAPE_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]P^_X][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
# Control (Cc, other than whitespace), format (Cf: bidi overrides, zero-width characters) and
# surrogate (Cs: unpaired halves, which JSON can carry and no encoder accepts) characters.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def printable(text: str, limit: int = 200) -> str:
    """`text` as one line of visible characters, at most `limit` long (an ellipsis ends a cut).

    Whitespace runs (newlines included) become one space; escape sequences and control,
    format and surrogate characters are removed.
    """
    # Only a prefix can survive the cap; cleaning all of a megabyte body would be wasted work.
    head = _ESCAPE_SEQUENCES.sub("", text[: limit * 4 + 64])
    kept = "".join(
        " " if char.isspace() else char
        for char in head
        if char.isspace() or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    line = " ".join(kept.split())
    if len(line) > limit or len(text) > limit * 4 + 64:
        return line[: max(limit - 1, 0)].rstrip() + "…"
    return line


def mqtt_topic_problem(topic: str) -> str | None:
    """What MQTT (3.1.1, 4.7 and 1.5.3) refuses in `topic` as a topic to publish to, or None.

    Mosquitto drops the connection of a client that publishes to such a topic (NUL, a
    wildcard, invalid UTF-8), which is why it is checked before sending and at load.
    Control characters are refused too: the topic is also logged."""
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        return "not UTF-8 (a lone surrogate)"
    if size == 0:
        return "empty"
    if size > 65535:
        return f"{size} bytes of UTF-8, more than 65535"
    if "+" in topic or "#" in topic:
        return "a wildcard ('+' or '#') in a topic to publish to"
    if any(unicodedata.category(char) in _DROPPED_CATEGORIES for char in topic):
        return "a control character (NUL, a line break, an escape)"
    if "\ufffe" in topic or "\uffff" in topic:
        return "a Unicode noncharacter"
    return None
