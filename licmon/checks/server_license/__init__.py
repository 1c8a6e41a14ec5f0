"""The server license: `GET /qrs/license`, days until its end, Butler's payloads."""

from licmon.checks.server_license.kind import MONITOR_PATH, SERVER_LICENSE

__all__ = ["MONITOR_PATH", "SERVER_LICENSE"]
