"""Client of the Qlik Sense Repository Service (QRS) license API.

The names below load on first use, so that `licmon.qrs.defaults` (read by the config
schema) does not bring requests into every process that reads a config.
"""

from __future__ import annotations

import importlib
from typing import Any

from licmon.qrs.errors import (
    QrsAnswerTooLargeError,
    QrsAuthError,
    QrsBadResponseError,
    QrsClientCertRejectedError,
    QrsClientConfigError,
    QrsConnectionError,
    QrsConnectionRefusedError,
    QrsError,
    QrsHostnameMismatchError,
    QrsHttpError,
    QrsNoLicenseError,
    QrsServerError,
    QrsTimeoutError,
    QrsTlsError,
    QrsUntrustedServerError,
)

_FROM_CLIENT = ("DEFAULT_USER_HEADER", "QrsClient", "QrsEndpoint", "new_xrfkey")


def __getattr__(name: str) -> Any:
    if name in _FROM_CLIENT:
        return getattr(importlib.import_module("licmon.qrs.client"), name)
    raise AttributeError(f"module 'licmon.qrs' has no attribute {name!r}")


__all__ = [
    "DEFAULT_USER_HEADER",
    "QrsAnswerTooLargeError",
    "QrsAuthError",
    "QrsBadResponseError",
    "QrsClient",
    "QrsClientCertRejectedError",
    "QrsClientConfigError",
    "QrsConnectionError",
    "QrsConnectionRefusedError",
    "QrsEndpoint",
    "QrsError",
    "QrsHostnameMismatchError",
    "QrsHttpError",
    "QrsNoLicenseError",
    "QrsServerError",
    "QrsTimeoutError",
    "QrsTlsError",
    "QrsUntrustedServerError",
    "new_xrfkey",
]
