"""Which alerts one target is sent, as a pure function of what it was sent before.

`decide(history, outcome, check_id, failures_needed, judge)` takes the target's history
(what this site already told this target), the check's outcome and a kind's own judgement
(`judge`: the kind's history part and the kind's status in, its messages and new part
out), and returns the messages to send and the new history. The caller stores the history
atomically (licmon/state/alert_history.py); nothing here reads a clock, Redis or config.

What is common to every kind lives here:
- a check that fails: one "check failing" message on the `failures_needed`-th consecutive
  failure, or at the first when the failure is permanent; one "check recovered" when the
  site is read again;
- idempotency: the same check decided twice (a redelivered or retried task) gets the same
  messages again, never new ones, and a check older than the last one seen changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

# Message kinds, stable: in task arguments and in the history.
CHECK_FAILING = "check_failing"
CHECK_RECOVERED = "check_recovered"


@dataclass(frozen=True)
class Message:
    """One alert to send: what it is and the fields its template may use."""

    what: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "fields": dict(self.fields)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        return cls(str(data["what"]), dict(data.get("fields") or {}))


@dataclass(frozen=True)
class CheckOutcome:
    """How a check went, whatever its kind. A failed check has `error_kind` and `reason`."""

    ok: bool
    checked_at: datetime
    error_kind: str = ""
    reason: str = ""
    # A person has to fix it (certificate rejected, 401/403, an answer that is no license).
    permanent: bool = False
    # Failed checks in a row, this one included (0 when ok).
    consecutive_failures: int = 0
    duration_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checkedAt": self.checked_at.isoformat(),
            "errorKind": self.error_kind,
            "reason": self.reason,
            "permanent": self.permanent,
            "consecutiveFailures": self.consecutive_failures,
            "durationMs": self.duration_ms,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckOutcome:
        return cls(
            ok=bool(data["ok"]),
            checked_at=datetime.fromisoformat(str(data["checkedAt"])),
            error_kind=str(data.get("errorKind") or ""),
            reason=str(data.get("reason") or ""),
            permanent=bool(data.get("permanent")),
            consecutive_failures=int(data.get("consecutiveFailures") or 0),
            duration_ms=float(data.get("durationMs") or 0.0),
        )


@dataclass(frozen=True)
class History:
    """What one site told one target: the kind's part is the kind's business."""

    kind: Mapping[str, Any] = field(default_factory=dict)
    # A "check failing" was sent and no "check recovered" since.
    failing: bool = False
    # The last check decided, its instant, and what it sent: a redelivered check gets
    # exactly these again.
    check_id: str | None = None
    seen: datetime | None = None
    sent: tuple[Message, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": dict(self.kind),
            "failing": self.failing,
            "checkId": self.check_id,
            "seen": self.seen.isoformat() if self.seen else None,
            "sent": [message.to_json() for message in self.sent],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> History:
        if not data:
            return cls()
        seen = data.get("seen")
        return cls(
            kind=dict(data.get("kind") or {}),
            failing=bool(data.get("failing")),
            check_id=data.get("checkId"),
            seen=datetime.fromisoformat(seen) if seen else None,
            sent=tuple(Message.from_json(each) for each in data.get("sent") or ()),
        )


# A kind's judgement: its history part in, its messages and new part out.
Judge = Callable[[Mapping[str, Any]], tuple[list[Message], Mapping[str, Any]]]


def decide(
    history: History,
    outcome: CheckOutcome,
    check_id: str,
    failures_needed: int,
    judge: Judge | None,
    site: str,
) -> tuple[list[Message], History]:
    """The messages this check sends to one target, and that target's new history.

    `judge` is None for a failed check (there is no status to judge).
    """
    if history.check_id == check_id:
        return list(history.sent), history
    if history.seen is not None and outcome.checked_at < history.seen:
        return [], history  # an older check, decided late: the newer one already spoke
    messages: list[Message] = []
    failing = history.failing
    kind_part = history.kind
    if outcome.ok:
        if failing:
            messages.append(Message(CHECK_RECOVERED, {"site": site}))
            failing = False
        if judge is not None:
            said, kind_part = judge(history.kind)
            messages += said
    elif not failing and (
        outcome.permanent or outcome.consecutive_failures >= max(1, failures_needed)
    ):
        messages.append(
            Message(
                CHECK_FAILING,
                {"site": site, "errorKind": outcome.error_kind, "reason": outcome.reason},
            )
        )
        failing = True
    return messages, replace(
        history,
        kind=kind_part,
        failing=failing,
        check_id=check_id,
        seen=outcome.checked_at,
        sent=tuple(messages),
    )
