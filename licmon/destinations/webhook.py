"""Webhooks: one task per URL; Butler's rateLimit held in Redis per webhook, event and site.

Butler keys: `Butler.webhookNotification.{enable, qlikSenseServerLicenseMonitor,
qlikSenseServerLicenseExpiryAlert}` (`{rateLimit, webhooks[]}` each) and the feature switch
`...destination.webhook.{enable, sendRecurring, sendAlert}`. A URL may come from
`LICMON_{STATUS,ALERT}_WEBHOOK_URL_<N>` instead of the file.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr

from licmon.config.build import Build
from licmon.config.env import EnvOverlay
from licmon.config.fields import FilePath, HttpMethod, HttpUrl, RateLimit, Switch, Text
from licmon.config.sections import EnableSwitch, Section
from licmon.destinations.base import Delivery, DestinationSchema, Part, deliver_each_once
from licmon.resources import Resources
from licmon.senders.settings import WebhookTarget

# Receivers deduplicate redeliveries on the check id; the site tells replicas apart.
HEADER_CHECK_ID = "X-Licmon-Check-Id"
HEADER_SITE = "X-Licmon-Site"
_GROUPS = {
    "status": "qlikSenseServerLicenseMonitor",
    "alert": "qlikSenseServerLicenseExpiryAlert",
}


class WebhookCert(Section):
    enable: Switch = False
    rejectUnauthorized: Switch = True
    certCA: FilePath | None = None


class Webhook(Section):
    description: Text = ""
    # May be left out when LICMON_{STATUS,ALERT}_WEBHOOK_URL_<N> supplies it.
    webhookURL: HttpUrl | None = None
    httpMethod: HttpMethod = "POST"
    cert: WebhookCert = WebhookCert()


class WebhookGroup(Section):
    rateLimit: RateLimit = 300
    webhooks: list[Webhook] = Field(default_factory=list)


class WebhookNotification(Section):
    """`Butler.webhookNotification`."""

    enable: Switch = False
    qlikSenseServerLicenseMonitor: WebhookGroup = WebhookGroup()
    qlikSenseServerLicenseExpiryAlert: WebhookGroup = WebhookGroup()


class WebhookFeature(Section):
    """`...destination.webhook` of a monitor."""

    enable: Switch = False
    sendRecurring: EnableSwitch = EnableSwitch()
    sendAlert: EnableSwitch = EnableSwitch()


class WebhookDestination:
    name = "webhook"
    schema = DestinationSchema(
        butler={"webhookNotification": WebhookNotification},
        feature=("webhook", WebhookFeature),
        timeout=("webhook", 10.0),
    )

    def env_secrets(self, overlay: EnvOverlay) -> None:
        for kind, group in _GROUPS.items():
            overlay.put_each(
                f"LICMON_{kind.upper()}_WEBHOOK_URL_",
                ("Butler", "webhookNotification", group, "webhooks"),
                "webhookURL",
            )

    def settings(self, document: Any, build: Build) -> tuple[WebhookTarget, ...] | None:
        notification = document.Butler.webhookNotification
        feature = build.switched_on(
            "webhook", "Butler.webhookNotification", notification.enable, "no webhook is called"
        )
        if feature is None:
            return None
        targets: list[WebhookTarget] = []
        switches = {"status": feature.sendRecurring.enable, "alert": feature.sendAlert.enable}
        for kind, group in _GROUPS.items():
            if switches[kind]:
                targets += _group(getattr(notification, group), kind, group, build)
        return tuple(targets) or None

    records_failed_checks = False

    def status_targets(self, settings: tuple[WebhookTarget, ...]) -> list[str]:
        return [hook.key for hook in settings if hook.kind == "status"]

    def alert_targets(self, settings: tuple[WebhookTarget, ...]) -> list[str]:
        return [hook.key for hook in settings if hook.kind == "alert"]

    def parts(
        self, settings: tuple[WebhookTarget, ...], target: str, delivery: Delivery
    ) -> list[Part]:
        hook = _hook(settings, target)
        return [
            Part(notice.event, notice)
            for notice in delivery.notices
            if notice.alert == (hook.kind == "alert")
        ]

    def send_one(
        self,
        settings: tuple[WebhookTarget, ...],
        target: str,
        delivery: Delivery,
        part: Part,
        resources: Resources,
    ) -> str:
        from licmon.senders.ratelimit import RateLimiter, webhook_identity_of
        from licmon.senders.webhook import send_webhook

        hook = _hook(settings, target)
        notice = part.notice
        assert notice is not None  # every webhook part is a notice
        limiter = RateLimiter(resources.redis)
        identity = webhook_identity_of(hook.url.get_secret_value())
        # Per site too: one webhook shared by many sites must still hear from each.
        window = f"{delivery.site.name}/{notice.event}"
        if not limiter.acquire(identity, window, hook.rate_limit_seconds, owner=delivery.check_id):
            return f"skipped by rateLimit ({hook.rate_limit_seconds} s) for {notice.event!r}"
        headers = {HEADER_CHECK_ID: delivery.check_id, HEADER_SITE: delivery.site.name}
        send_webhook(hook, notice.params, headers, session=resources.http_session())
        return f"{hook.method} {notice.event!r}"

    def deliver(
        self,
        settings: tuple[WebhookTarget, ...],
        target: str,
        delivery: Delivery,
        resources: Resources,
    ) -> str:
        return deliver_each_once(self, settings, target, delivery, resources)


def _hook(settings: tuple[WebhookTarget, ...], target: str) -> WebhookTarget:
    return next(hook for hook in settings if hook.key == target)


def _group(group: WebhookGroup, kind: str, key: str, build: Build) -> list[WebhookTarget]:
    path = f"Butler.webhookNotification.{key}"
    targets = []
    for index, hook in enumerate(group.webhooks):
        number = index + 1
        where = f"{path}.webhooks[{index}]"
        if not hook.webhookURL:
            variable = f"LICMON_{kind.upper()}_WEBHOOK_URL_{number}"
            build.problem(f"{where}.webhookURL", f"required (or set {variable})")
            continue
        ca_file = None
        if hook.cert.enable:
            ca_file = build.ca_file(f"{where}.cert.certCA", hook.cert.certCA, "CA")
            if not hook.cert.rejectUnauthorized:
                build.warn(
                    f"{where}.cert.rejectUnauthorized is false: the webhook's server "
                    "certificate is not verified, so anyone on the path can receive its calls"
                )
        targets.append(
            WebhookTarget(
                key=f"{kind}-{number}",
                kind=kind,
                description=hook.description,
                url=SecretStr(hook.webhookURL),
                method=hook.httpMethod,
                rate_limit_seconds=group.rateLimit,
                ca_file=ca_file,
                reject_unauthorized=hook.cert.rejectUnauthorized if hook.cert.enable else True,
                timeout=build.timeout("webhook"),
            )
        )
    return targets
