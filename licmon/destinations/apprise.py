"""Apprise: a notice's title and body to Teams, Slack, email or any service Apprise knows.

Not a Butler destination: its keys are ours, `licmon.apprise.{enable, urls[]}`, each URL with
`url`, `tags` and Butler-style switches `sendRecurring` (default off: chat is for alerts) and
`sendAlert` (default on). A URL may come from `LICMON_APPRISE_URL_<N>` instead of the file.
One task per URL, named `apprise-<N>`; the URL itself never leaves the config.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from licmon.config.build import Build
from licmon.config.env import EnvOverlay
from licmon.config.fields import Switch, Text
from licmon.config.sections import EnableSwitch, Section
from licmon.core.notices import Notice
from licmon.destinations.base import Delivery, DestinationSchema, Part, deliver_each_once
from licmon.resources import Resources
from licmon.senders.apprise import AppriseTarget, send_apprise, understands
from licmon.senders.errors import PermanentDeliveryError

ENV_PREFIX = "LICMON_APPRISE_URL_"


def _apprise_url(value: Any) -> str:
    # Errors never quote the value (`url` is in config.errors.SECRET_KEYS) and say nothing
    # Apprise logged: it is kept quiet while it parses (licmon.senders.apprise._Guard).
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("expected", "expected an Apprise URL such as mailto://...")
    text = value.strip()
    if not understands(text):
        raise PydanticCustomError(
            "expected",
            "expected a URL that Apprise understands (e.g. mailto://, workflows:// for Teams, "
            "slack://, json://): Apprise cannot use this one",
        )
    return text


AppriseUrl = Annotated[SecretStr, BeforeValidator(_apprise_url)]


class OffByDefault(Section):
    enable: Switch = False


class AppriseEntry(Section):
    # May be left out when LICMON_APPRISE_URL_<N> supplies it.
    url: AppriseUrl | None = None
    tags: list[Text] = Field(default_factory=list)
    sendRecurring: OffByDefault = OffByDefault()
    sendAlert: EnableSwitch = EnableSwitch()


class AppriseSection(Section):
    """`licmon.apprise`."""

    enable: Switch = False
    urls: list[AppriseEntry] = Field(default_factory=list)


def wanted(target: AppriseTarget, notice: Notice) -> bool:
    return target.send_alert if notice.alert else target.send_recurring


class AppriseDestination:
    name = "apprise"
    schema = DestinationSchema(licmon={"apprise": AppriseSection}, timeout=("apprise", 10.0))

    def env_secrets(self, overlay: EnvOverlay) -> None:
        overlay.put_each(ENV_PREFIX, ("licmon", "apprise", "urls"), "url")

    def settings(self, document: Any, build: Build) -> tuple[AppriseTarget, ...] | None:
        section = document.licmon.apprise
        if not section.enable:
            return None
        if not section.urls:
            build.problem(
                "licmon.apprise.urls",
                f"at least one entry is required when licmon.apprise.enable is true (its url "
                f"in the file or in {ENV_PREFIX}<N>)",
            )
            return None
        targets = []
        for index, entry in enumerate(section.urls):
            number = index + 1
            where = f"licmon.apprise.urls[{index}]"
            if entry.url is None:
                build.problem(f"{where}.url", f"required (or set {ENV_PREFIX}{number})")
                continue
            if not (entry.sendRecurring.enable or entry.sendAlert.enable):
                build.warn(f"{where}: sendRecurring and sendAlert are both off: nothing is sent")
            targets.append(
                AppriseTarget(
                    key=f"apprise-{number}",
                    url=entry.url,
                    tags=tuple(entry.tags),
                    send_recurring=entry.sendRecurring.enable,
                    send_alert=entry.sendAlert.enable,
                    timeout=build.timeout("apprise"),
                )
            )
        return tuple(targets) or None

    records_failed_checks = False

    def status_targets(self, settings: tuple[AppriseTarget, ...]) -> list[str]:
        return [target.key for target in settings if target.send_recurring]

    def alert_targets(self, settings: tuple[AppriseTarget, ...]) -> list[str]:
        return [target.key for target in settings if target.send_alert]

    def parts(
        self, settings: tuple[AppriseTarget, ...], target: str, delivery: Delivery
    ) -> list[Part]:
        # A URL may get two notices (status and alert); when the second fails, the retry
        # does not send the first again (deliver_each_once remembers each one sent).
        chosen = self._chosen(settings, target)
        return [Part(notice.event, notice) for notice in delivery.notices if wanted(chosen, notice)]

    def send_one(
        self,
        settings: tuple[AppriseTarget, ...],
        target: str,
        delivery: Delivery,
        part: Part,
        resources: Resources,
    ) -> str:
        notice = part.notice
        assert notice is not None  # every Apprise part is a notice
        send_apprise(self._chosen(settings, target), notice.title, notice.body, alert=notice.alert)
        return f"sent {notice.event!r}"

    def deliver(
        self,
        settings: tuple[AppriseTarget, ...],
        target: str,
        delivery: Delivery,
        resources: Resources,
    ) -> str:
        return deliver_each_once(self, settings, target, delivery, resources)

    def _chosen(self, settings: tuple[AppriseTarget, ...], target: str) -> AppriseTarget:
        chosen = next((each for each in settings if each.key == target), None)
        if chosen is None:
            raise PermanentDeliveryError(self.name, target, "not in this worker's configuration")
        return chosen
