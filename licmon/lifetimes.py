"""How long finished work is remembered, in one place for the worker and the destinations.

`worker.settings` (claims) imports the destinations, so the destinations cannot import it;
both import this module instead.
"""

from __future__ import annotations

# A finished check or delivery refuses duplicates (a second beat, a resend) this long, and a
# notice sent to a target is remembered as long (licmon.destinations.base.deliver_each_once).
DONE_SECONDS = 7 * 24 * 3600
