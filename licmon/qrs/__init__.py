"""Client of the Qlik Sense Repository Service (QRS) license API."""

from licmon.qrs.client import DEFAULT_USER_HEADER, QrsClient, QrsEndpoint, new_xrfkey
from licmon.qrs.errors import (
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

__all__ = [
    "DEFAULT_USER_HEADER",
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
