"""Thin I/O adapters: one sender per destination, each doing one attempt and classifying failure.

Payloads arrive ready-made; retries belong to the caller (tenacity, keyed on
`DeliveryError.transient`).
"""

from licmon.senders.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    is_transient_http_status,
)

__all__ = [
    "DeliveryError",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "is_transient_http_status",
]
