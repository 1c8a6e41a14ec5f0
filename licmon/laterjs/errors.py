"""The error raised for schedule text that later.js does not accept."""

from __future__ import annotations


class LaterParseError(ValueError):
    """later.js's ``parse.text`` reported an error at ``position`` (it never throws for it).

    ``position`` is the character offset later.js reports in the lower-cased text (UTF-16
    code units, which equal characters for any text without emoji or other astral symbols).
    """

    def __init__(self, text: str, position: int, reason: str) -> None:
        super().__init__(f"invalid later.js schedule {text!r} at position {position}: {reason}")
        self.text = text
        self.position = position
        self.reason = reason

    def caret_message(self) -> str:
        """The text, a caret under the failing position, and the reason, on three lines."""
        shown = self.text.lower() if len(self.text.lower()) != len(self.text) else self.text
        column = _column(shown, self.position)
        # Tabs keep their width so the caret lines up under the character in a terminal.
        pad = "".join(c if c == "\t" else " " for c in shown[:column])
        return f"{shown}\n{pad}^\n{self.reason}"


def _column(text: str, utf16_position: int) -> int:
    """The character index whose UTF-16 offset is ``utf16_position``."""
    units = 0
    for index, char in enumerate(text):
        if units >= utf16_position:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text)
