"""Access licenses: `GET /qrs/license/accesstypeoverview`, seats and tokens left."""

from licmon.checks.access_license.kind import ACCESS_LICENSE, minimums, minimums_of, sibling_topic

__all__ = ["ACCESS_LICENSE", "minimums", "minimums_of", "sibling_topic"]
