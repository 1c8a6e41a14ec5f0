"""The one error family every sender raises, so a caller can retry on `transient` alone."""

from __future__ import annotations

from typing import Any

from licmon.core.text import printable


def _one_line(text: str) -> str:
    # Server error bodies often span lines and may carry terminal escape codes; a log
    # record, a task result and a terminal want one line of printable text.
    return printable(text, 1000)


class DeliveryError(Exception):
    """A delivery to one destination failed.

    `target` is a name that is safe to log (a webhook key, a broker host:port, an InfluxDB
    host and database), never a URL with credentials or a token in it.
    """

    def __init__(
        self, destination: str, target: str, detail: str, *, transient: bool = False
    ) -> None:
        self.destination = destination
        self.target = target
        self.detail = _one_line(detail)
        self.transient = transient
        super().__init__(self.destination, self.target, self.detail)

    def __str__(self) -> str:
        kind = "transient" if self.transient else "permanent"
        return f"{self.destination} delivery to {self.target} failed ({kind}): {self.detail}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Celery pickles exceptions into results; the default reduce would pass our three
        # positional args to a subclass __init__ that takes exactly those three.
        return (_rebuild, (type(self), self.destination, self.target, self.detail, self.transient))


class TransientDeliveryError(DeliveryError):
    """Worth retrying: the destination was unreachable, slow or temporarily refusing."""

    def __init__(self, destination: str, target: str, detail: str) -> None:
        super().__init__(destination, target, detail, transient=True)


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help until someone changes configuration or the destination."""

    def __init__(self, destination: str, target: str, detail: str) -> None:
        super().__init__(destination, target, detail, transient=False)


def _rebuild(
    cls: type[DeliveryError], destination: str, target: str, detail: str, transient: bool
) -> DeliveryError:
    if cls is DeliveryError:
        return DeliveryError(destination, target, detail, transient=transient)
    return cls(destination, target, detail)  # type: ignore[call-arg]


def is_transient_http_status(code: int) -> bool:
    """5xx, 408 (request timeout) and 429 (too many requests) may pass on a later try."""
    return code >= 500 or code in (408, 429)
