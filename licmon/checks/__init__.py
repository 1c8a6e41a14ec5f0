"""Every kind of check, one module or package each; `licmon.plugins` lists them."""

from licmon.checks.base import CheckKind, Status

__all__ = ["CheckKind", "Status"]
