"""Monitoring-plugin output, as the monitoring-plugins development guidelines define it:
the first line `<WORD> <STATE> - <summary> | <perfdata>`, the long output after it.

Pure functions, shared by every kind (each gives its word, its summary and its perfdata
entries in its `Report`) and by `licmon check` / `licmon status`, which assemble the line.

Ranges (guidelines, "Threshold and ranges"): `N:` alerts when the value is below N,
`~:N` when above N, `N:M` when outside N..M, and a leading `@` inverts (alerts inside,
ends included). Every kind's thresholds are "at or below" (`N days or fewer left`,
`N seats or fewer available`), so `at_or_below` gives the range that alerts exactly then:
`N+1:` for whole numbers (days, seats: the form every grapher reads), `@~:N` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Monitoring-plugin states by exit code; anything else is UNKNOWN.
STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
# Worst first, as licmon orders exit codes (licmon/views.py): critical, warning, unknown.
_WORST_FIRST = (2, 1, 3, 0)
# A `|` starts perfdata on any line Nagios reads, so none may appear in the text itself;
# the broken bar keeps the text readable. Nagios also turns every `;` of a status text
# into `:` (its log's field separator; seen in tests/test_nagios.py), so the summary joins
# with commas and a `;` from elsewhere (an error's reason) becomes one.
_BAR = "\u00a6"
# Sites named in a summary before "+N more": the line must stay one screen line.
SHOWN = 3


def state_name(code: int) -> str:
    return STATES.get(code, "UNKNOWN")


def number(value: float) -> str:
    """A number as perfdata wants it: decimal, no exponent, no needless `.0`."""
    if not math.isfinite(value):
        raise ValueError(f"perfdata cannot hold {value!r}")
    if float(value).is_integer():
        return str(int(value))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


@dataclass(frozen=True)
class Range:
    """A threshold range; `start`/`end` None are -infinity/+infinity (`~`, or nothing)."""

    start: float | None = 0
    end: float | None = None
    inside: bool = False  # `@`: alert inside the range instead of outside

    def text(self) -> str:
        start = "~" if self.start is None else number(self.start)
        end = "" if self.end is None else number(self.end)
        # `10` is `0:10`: the short form where it says the same.
        body = end if start == "0" and end and not self.inside else f"{start}:{end}"
        return ("@" if self.inside else "") + body

    def alerts(self, value: float) -> bool:
        """Whether `value` raises this range's alert."""
        within = (self.start is None or value >= self.start) and (
            self.end is None or value <= self.end
        )
        return within if self.inside else not within


def at_or_below(limit: float, whole: bool = True) -> Range:
    """The range that alerts when a value is `limit` or less: `floor(limit)+1:` for whole
    numbers (days, seats), `@~:limit` for any number."""
    if whole:
        return Range(start=math.floor(limit) + 1)
    return Range(start=None, end=limit, inside=True)


def label_text(label: str) -> str:
    """A label as the guidelines allow: no `=` (it ends the label) and no newline or `|`
    (they end the line or the perfdata), replaced by `_`; quoted with single quotes when
    it holds a space, a quote or anything unusual, a quote inside doubled."""
    cleaned = "".join(
        "_" if char in "=|" or not char.isprintable() else char for char in label
    ).strip()
    cleaned = cleaned or "_"
    if all(char.isalnum() or char in "_-.:/" for char in cleaned) and cleaned.isascii():
        return cleaned
    return "'" + cleaned.replace("'", "''") + "'"


@dataclass(frozen=True)
class Perf:
    """One perfdata entry: `'label'=value[uom];[warn];[crit];[min];[max]`."""

    label: str
    value: float | None  # None: `U`, the value could not be determined
    uom: str = ""  # the guidelines': "", s, ms, us, %, B, KB, MB, TB, c
    warn: Range | None = None
    crit: Range | None = None
    minimum: float | None = None
    maximum: float | None = None

    def text(self) -> str:
        value = "U" if self.value is None else number(self.value) + self.uom
        fields = [
            "" if self.warn is None else self.warn.text(),
            "" if self.crit is None else self.crit.text(),
            "" if self.minimum is None else number(self.minimum),
            "" if self.maximum is None else number(self.maximum),
        ]
        while fields and not fields[-1]:
            fields.pop()  # trailing unfilled semicolons may be dropped
        return ";".join([f"{label_text(self.label)}={value}", *fields])

    def state(self) -> int:
        """The exit code these ranges give the value (3 when undetermined)."""
        if self.value is None:
            return 3
        if self.crit is not None and self.crit.alerts(self.value):
            return 2
        if self.warn is not None and self.warn.alerts(self.value):
            return 1
        return 0


@dataclass(frozen=True)
class Finding:
    """One site's (or tenant's) part of a summary: its exit code, a few words starting
    with its name, and where it sorts among those of its code (fewest days left first)."""

    code: int
    text: str
    order: float = 0


def worst_first(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(
        findings,
        key=lambda f: (_WORST_FIRST.index(f.code) if f.code in _WORST_FIRST else 2, f.order),
    )


def summary(findings: Sequence[Finding], noun: str = "sites", shown: int = SHOWN) -> str:
    """`prod 30 days left (2027-01-06), 2 of 3 sites ok`: the sites that are not ok, worst
    first (at most `shown`, then `+N more`); when all are, the nearest; then the count."""
    ordered = worst_first(findings)
    named = [f for f in ordered if f.code != 0] or ordered[:1]
    texts = [f.text for f in named[:shown]]
    if len(named) > shown:
        texts.append(f"+{len(named) - shown} more")
    ok = sum(1 for f in findings if f.code == 0)
    return ", ".join([*texts, f"{ok} of {len(findings)} {noun} ok"])


def one_line(text: str) -> str:
    """`text` on one line without `|` or `;`: a status text Nagios keeps as it is."""
    return " ".join(text.replace("|", _BAR).replace(";", ",").split())


def long_output(text: str) -> str:
    """The table as long output: its lines kept, every `|` replaced."""
    return text.replace("|", _BAR)


def plugin_line(word: str, code: int, text: str, perfdata: Sequence[Perf] = ()) -> str:
    """`<WORD> <STATE> - <text> | <perfdata>` (no ` | ` without perfdata)."""
    line = f"{word} {state_name(code)} - {one_line(text)}"
    if perfdata:
        line += " | " + " ".join(entry.text() for entry in perfdata)
    return line


def output(word: str, code: int, text: str, perfdata: Sequence[Perf] = (), long: str = "") -> str:
    """The whole output: the plugin line, then the long output (the table) if any."""
    first = plugin_line(word, code, text, perfdata)
    return first if not long else first + "\n" + long_output(long)
