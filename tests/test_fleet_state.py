"""The fleet's Redis state on a real Redis: the beat lease, the one-waiting-check record and
the last ticks, each site's hash, and the fetch queues read as kombu's Redis transport
wrote them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import redis
from celery import Celery

from licmon.state.fleet import FleetState
from licmon.state.lease import Lease, Role
from licmon.state.pending import Check, Outcome, PendingChecks
from licmon.state.queues import lengths, queued_sites, task_ids
from tests.pipeline_support import wait_for


def test_one_lease_holder_renews_and_releases(redis_client: redis.Redis) -> None:
    lease = Lease(redis_client, 30, key="test:lease")
    assert lease.holder() is None
    assert lease.hold("token-a", "host-a", 11) is Role.ACQUIRED
    assert lease.hold("token-a", "host-a", 11) is Role.RENEWED
    assert lease.hold("token-b", "host-b", 22) is Role.STANDBY
    holder = lease.holder()
    assert holder is not None and (holder.host, holder.pid) == ("host-a", 11)
    assert 0 <= holder.age_seconds < 1
    assert not lease.release("token-b")  # not the holder's: nothing happens
    assert lease.release("token-a")
    assert lease.holder() is None
    assert lease.hold("token-b", "host-b", 22) is Role.ACQUIRED


def test_an_unrenewed_lease_expires_and_its_age_grows(redis_client: redis.Redis) -> None:
    # Long enough that a loaded machine's oversleep cannot expire it before it is read.
    lease = Lease(redis_client, 1.5, key="test:lease")
    assert lease.hold("token-a", "host-a", 11) is Role.ACQUIRED
    time.sleep(0.2)
    holder = lease.holder()
    assert holder is not None and 0.15 <= holder.age_seconds < 1.5
    wait_for(lambda: lease.holder() is None, 5, "the lease to expire")
    assert lease.hold("token-b", "host-b", 22) is Role.ACQUIRED


T0, T1, T2 = "2026-11-28T00:00:00Z", "2026-11-28T00:00:02Z", "2026-11-28T00:00:04Z"


def pending_of(client: redis.Redis) -> PendingChecks:
    return PendingChecks(client, prefix="test:pending", ticks_key="test:ticks")


def test_one_waiting_check_per_site_and_the_newest_tick_wins(redis_client: redis.Redis) -> None:
    pending = pending_of(redis_client)
    first = pending.offer("kind", "site", "site@1", T1, "q", "task-1")
    assert (first.outcome, first.task, first.queue) == (Outcome.PUBLISH, "task-1", "q")
    newer = pending.offer("kind", "site", "site@2", T2, "q", "task-2")
    assert (newer.outcome, newer.task, newer.queue) == (Outcome.WAITING, "task-1", "q")
    older = pending.offer("kind", "site", "site@0", T0, "q", "task-3")
    assert older.outcome is Outcome.WAITING
    assert pending.offer("kind", "other", "other@1", T1, "q", "task-4").outcome is Outcome.PUBLISH
    # Only the record's own message takes it, and runs the newest tick offered.
    assert pending.take("kind", "site", "task-2") is None
    assert pending.take("kind", "site", "task-1") == Check("site@2", T2, "q")
    assert pending.waiting("kind", "site") is None
    assert pending.offer("kind", "site", "site@3", T2, "q", "task-5").outcome is Outcome.PUBLISH
    assert 0 < redis_client.ttl("test:pending:kind:site") <= 7 * 24 * 3600


def test_a_lost_message_is_replaced_once(redis_client: redis.Redis) -> None:
    pending = pending_of(redis_client)
    pending.offer("kind", "site", "site@1", T1, "q", "task-1")
    pending.offer("kind", "site", "site@2", T2, "q", "task-2")
    assert pending.replace("kind", "site", "task-9", "task-3", "q2") is None  # not the record's
    assert pending.replace("kind", "site", "task-1", "task-3", "q2") == Check("site@2", T2, "q2")
    assert pending.replace("kind", "site", "task-1", "task-4", "q2") is None  # replaced already
    assert pending.waiting("kind", "site") == ("task-3", Check("site@2", T2, "q2"))


def test_beat_offers_are_fenced_by_the_lease_and_the_last_tick(redis_client: redis.Redis) -> None:
    pending, lease = pending_of(redis_client), Lease(redis_client, 30, key="test:lease")
    lease.hold("leader", "host", 1)
    fenced = {"lease": ("test:lease", "leader"), "entry": "check site"}
    refused = pending.offer(
        "kind", "site", "site@1", T1, "q", "t1", lease=("test:lease", "old"), entry="check site"
    )
    assert refused.outcome is Outcome.NOT_LEADER
    assert pending.waiting("kind", "site") is None and pending.last_ticks() == {}
    assert (
        pending.offer("kind", "site", "site@1", T1, "q", "t2", **fenced).outcome is Outcome.PUBLISH
    )
    assert pending.last_ticks() == {"check site": T1}
    # The same tick, or an older one, is never sent again, whoever offers it.
    assert (
        pending.offer("kind", "site", "site@1", T1, "q", "t3", **fenced).outcome is Outcome.ALREADY
    )
    assert (
        pending.offer("kind", "site", "site@0", T0, "q", "t4", **fenced).outcome is Outcome.ALREADY
    )
    assert (
        pending.offer("kind", "site", "site@2", T2, "q", "t5", **fenced).outcome is Outcome.WAITING
    )
    assert pending.last_ticks() == {"check site": T2}
    pending.forget_entries(["another entry"])
    assert pending.last_ticks() == {}


def test_a_site_hash_keeps_the_last_check_and_counts_failures(redis_client: redis.Redis) -> None:
    fleet = FleetState(redis_client, prefix="test:fleet")
    at = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    ok = {"site": "s", "status": "ok", "daysUntilExpiry": 200, "expiryDate": "2027-06-16"}
    fleet.succeeded("kind", "s", ok, "s@1", at)
    for minutes in (1, 2):
        failed = {"site": "s", "status": "unknown", "error": "refused"}
        later = at + timedelta(minutes=minutes)
        fleet.failed("kind", "s", failed, f"s@{minutes}", later, "auth_rejected", "refused")
    state = fleet.read("kind", ["s", "never"])
    assert state["never"] is None
    s = state["s"]
    assert s is not None and s.status == failed and s.check_id == "s@2"
    assert (s.last_checked, s.last_success) == (at + timedelta(minutes=2), at)
    assert (s.consecutive_failures, s.error_kind, s.error_reason) == (2, "auth_rejected", "refused")
    fleet.succeeded("kind", "s", ok, "s@3", at + timedelta(minutes=3))
    s = fleet.read("kind", ["s"])["s"]
    assert s is not None and (s.consecutive_failures, s.error_kind, s.error_reason) == (
        0,
        None,
        None,
    )
    # One small hash per site, whatever happened before.
    assert redis_client.hlen("test:fleet:kind:s") <= 8  # the eight fields, no more
    assert redis_client.ttl("test:fleet:kind:s") > 0


def test_fetch_queues_read_as_kombu_wrote_them(redis_client: redis.Redis, redis_url: str) -> None:
    app = Celery("queue-reader-test", broker=redis_url, set_as_current=False)
    queue = "license.fetch.east"
    app.send_task("license.fetch", kwargs={"site": "a"}, queue=queue, task_id="t1")
    app.send_task("license.fetch", args=("b",), queue=queue, task_id="t2")
    app.send_task("deliver.webhook", kwargs={"site": "c"}, queue=queue, task_id="t3")
    assert queued_sites(redis_client, queue) == {"a", "b"}
    assert task_ids(redis_client, queue) == {"t1", "t2", "t3"}
    assert lengths(redis_client, [queue, "license.fetch"]) == {queue: 3, "license.fetch": 0}
    with app.connection_for_read() as connection:
        # A worker takes t1 and has not acknowledged it yet: it is still known, but no
        # longer waiting in the queue.
        taken = connection.default_channel.basic_get(queue, no_ack=False)
        assert taken.headers["id"] == "t1"
        assert task_ids(redis_client, queue) == {"t1", "t2", "t3"}
        assert queued_sites(redis_client, queue) == {"b"}
        taken.ack()
    assert task_ids(redis_client, queue) == {"t2", "t3"}


def test_beat_reads_a_queue_at_most_once_a_second(redis_client: redis.Redis) -> None:
    from worker.dispatch import QueueScan

    def reads() -> int:
        return int(redis_client.info("commandstats").get("cmdstat_lrange", {}).get("calls", 0))

    redis_client.rpush("license.fetch.east", '{"headers": {"id": "t1"}}')
    scan = QueueScan(redis_client, seconds=1.0)
    before = reads()
    for _ in range(100):  # a burst of sites of one zone, offered at one tick
        assert scan.contains("license.fetch.east", "t1")
        assert not scan.contains("license.fetch.east", "t2")
    scan.add("license.fetch.east", "t2")  # published by this beat meanwhile
    assert scan.contains("license.fetch.east", "t2")
    assert reads() - before == 1
    time.sleep(1.1)
    assert scan.contains("license.fetch.east", "t1") and reads() - before == 2
