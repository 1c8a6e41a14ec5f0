"""Every way a QRS call fails, as one typed family.

``kind`` is a stable short code (for logs, metrics and dead letters); ``transient`` tells
the caller whether trying again later can help. The rule: the repository being down,
starting, slow or not listening is transient; anything a person has to fix (certificates,
trust, permissions, no license, something that is not QRS answering) is permanent.
"""

from __future__ import annotations

from licmon.core.source import SourceError
from licmon.core.text import printable


class QrsError(SourceError):
    """A QRS call failed. ``str()`` is one line naming the site."""

    kind: str = "qrs_error"
    transient: bool = False

    def __init__(self, site: str, detail: str, *, status: int | None = None) -> None:
        self.site = site
        # One line of printable text, whatever the server sent (escape codes included).
        self.detail = printable(detail, 1000)
        self.status = status
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"QRS site {self.site!r}: {self.detail}"

    def __reduce__(self) -> tuple[object, ...]:
        # Celery pickles exceptions between worker and caller; keep the keyword argument.
        return (_rebuild, (type(self), self.site, self.detail, self.status))


def _rebuild(cls: type[QrsError], site: str, detail: str, status: int | None) -> QrsError:
    return cls(site, detail, status=status)


class QrsTlsError(QrsError):
    """The TLS handshake failed for a reason not covered by a subclass."""

    kind = "tls_handshake"


class QrsUntrustedServerError(QrsTlsError):
    """The server's certificate does not chain to the configured root CA."""

    kind = "tls_untrusted_server"


class QrsHostnameMismatchError(QrsTlsError):
    """The chain is trusted but the certificate names another host."""

    kind = "tls_hostname_mismatch"


class QrsClientCertRejectedError(QrsTlsError):
    """The server refused the client certificate (unknown issuer, expired, missing)."""

    kind = "client_cert_rejected"


class QrsClientConfigError(QrsError):
    """The client's own certificate or CA files cannot be used."""

    kind = "client_config"


class QrsHttpError(QrsError):
    """QRS answered with an HTTP status other than 200; ``status`` holds it."""

    kind = "http_error"


class QrsAuthError(QrsHttpError):
    """401/403: the certificate's user or the xrfkey was refused."""

    kind = "auth_rejected"


class QrsNoLicenseError(QrsHttpError):
    """404 on /qrs/license: no license is installed on the site."""

    kind = "no_license"


class QrsServerError(QrsHttpError):
    """5xx: the repository is down or still starting."""

    kind = "server_unavailable"
    transient = True


class QrsBadResponseError(QrsError):
    """200 but not a JSON object (an HTML error page, truncated or broken JSON)."""

    kind = "bad_response"


class QrsAnswerTooLargeError(QrsBadResponseError):
    """200 with a body larger than any License (``MAX_ANSWER_BYTES``); not read further."""

    kind = "answer_too_large"


class QrsTimeoutError(QrsError):
    """No connection, no answer, or no complete answer by the call's deadline."""

    kind = "timeout"
    transient = True


class QrsConnectionError(QrsError):
    """The connection failed or broke (host unreachable, reset, name not resolved)."""

    kind = "connection_failed"
    transient = True


class QrsConnectionRefusedError(QrsConnectionError):
    """Nothing listens on the port: the repository service is not running."""

    kind = "connection_refused"
