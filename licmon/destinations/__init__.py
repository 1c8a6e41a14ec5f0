"""Every destination a check can go to. Adding one is a module and a line here."""

from __future__ import annotations

from licmon.destinations.apprise import AppriseDestination
from licmon.destinations.base import Delivery, Destination, DestinationSchema
from licmon.destinations.influxdb import InfluxDbDestination
from licmon.destinations.mqtt import MqttDestination
from licmon.destinations.webhook import WebhookDestination

DESTINATIONS: tuple[Destination, ...] = (
    InfluxDbDestination(),
    MqttDestination(),
    WebhookDestination(),
    AppriseDestination(),
)


def destination(name: str) -> Destination:
    for candidate in DESTINATIONS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown destination {name!r}")


__all__ = ["DESTINATIONS", "Delivery", "Destination", "DestinationSchema", "destination"]
