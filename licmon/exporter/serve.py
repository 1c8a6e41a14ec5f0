"""The HTTP side of `licmon exporter`: prometheus_client's WSGI app on a threading server
that the caller runs and stops (`serve_forever`, `shutdown`), without an access log line
per scrape."""

from __future__ import annotations

from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # one scrape every few seconds
        pass


def serve(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    """Bound and listening (OSError if the address cannot be served); not yet serving."""
    return make_server(
        host, port, make_wsgi_app(registry), ThreadingWSGIServer, handler_class=_QuietHandler
    )
