"""Every destination a check can go to, one module each; `licmon.plugins` lists them."""

from __future__ import annotations

from licmon.destinations.base import Delivery, Destination, DestinationSchema

__all__ = ["Delivery", "Destination", "DestinationSchema"]
