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
