"""The notices of a check that fails and recovers, for any kind (`label` says which)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from licmon.core import templates
from licmon.core.alerts import CHECK_FAILING, CHECK_RECOVERED, Message
from licmon.core.notices import Notice
from licmon.core.templates import MessageTemplate

_TEMPLATES = {CHECK_FAILING: "checkFailing", CHECK_RECOVERED: "checkRecovered"}


def rendered(
    template: MessageTemplate, values: Mapping[str, Any], event: str, params: Mapping[str, Any]
) -> Notice:
    """An alert notice: its three texts from `template`, Butler's-style `params`."""
    return Notice(
        alert=True,
        event=event,
        text=templates.render(template.text, values),
        title=templates.render(template.title, values),
        body=templates.render(template.body, values),
        params=params,
    )


def failure_notice(
    label: str, message: Message, chosen: Mapping[str, MessageTemplate], check_id: str
) -> Notice | None:
    """The notice of a check failing or recovered; None for any other message."""
    name = _TEMPLATES.get(message.what)
    if name is None:
        return None
    fields = dict(message.fields)
    event = f"{label} check {'failing' if message.what == CHECK_FAILING else 'recovered'}"
    params: dict[str, Any] = {"event": event, "site": fields.get("site")}
    if message.what == CHECK_FAILING:
        params |= {"errorKind": fields.get("errorKind"), "reason": fields.get("reason")}
    values = fields | {"license": label, "checkId": check_id}
    return rendered(chosen[name], values, event, params)
