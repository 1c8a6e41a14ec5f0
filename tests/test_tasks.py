"""The task layer in-process, in seconds: Celery's own test worker (a thread of this process)
on a real Redis, the QRS simulator over mutual TLS and a real HTTP receiver.

What is covered: transient/permanent classification, the quick attempts, the declared
backoff and its bounds, claims, the redelivery cap, dead letters in `on_failure`, the
fan-out, and a check kind the pipeline has never heard of.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.utils.time import get_exponential_backoff_interval

from licmon.claims import Claims
from licmon.config.model import RetryPolicy
from licmon.core.alerts import CheckOutcome, Message
from licmon.core.notices import InfluxPoint, Notice
from licmon.plugins import load_config_text
from licmon.qrs.errors import QrsServerError, QrsUntrustedServerError
from licmon.senders.errors import PermanentDeliveryError, TransientDeliveryError
from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, ensure_qlik_certs, run_simulator
from tests.http_receiver import HttpReceiver, run_receiver
from tests.pipeline_support import in_days, wait_for
from tests.services import REDIS_URL

# A database of the test Redis of its own: the worker's queues, claims and dead letters.
BROKER = REDIS_URL.rsplit("/", 1)[0] + "/12"
RESULTS = REDIS_URL.rsplit("/", 1)[0] + "/11"
POLICY = {
    "quickAttempts": 2,
    "quickWindowSeconds": 1,
    "retries": 2,
    "backoffSeconds": 1,
    "backoffMaxSeconds": 1,
}


# --- pure pieces: classification, quick attempts, declared backoff -------------------------


def test_transient_and_permanent_classification() -> None:
    from tasks.base import is_transient

    assert is_transient(TransientDeliveryError("webhook", "status-1", "HTTP 503"))
    assert not is_transient(PermanentDeliveryError("webhook", "status-1", "HTTP 400"))
    assert is_transient(QrsServerError("alpha", "HTTP 503", status=503))
    assert not is_transient(QrsUntrustedServerError("alpha", "unknown CA"))
    assert is_transient(redis.ConnectionError("Redis went away"))
    assert not is_transient(ValueError("a bug"))


def test_quick_attempts_retry_transient_only_then_hand_over_to_celery() -> None:
    from tasks.base import Retryable, quickly

    policy = RetryPolicy(3, 5.0, 2, 1.0, 1.0)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientDeliveryError("webhook", "status-1", "HTTP 503")
        return "sent"

    assert quickly(flaky, policy) == "sent" and len(calls) == 3
    calls.clear()

    def down() -> str:
        calls.append(1)
        raise TransientDeliveryError("webhook", "status-1", "HTTP 503")

    with pytest.raises(Retryable, match="HTTP 503"):
        quickly(down, policy)
    assert len(calls) == 3
    calls.clear()

    def refused() -> str:
        calls.append(1)
        raise PermanentDeliveryError("webhook", "status-1", "HTTP 400")

    with pytest.raises(PermanentDeliveryError):
        quickly(refused, policy)
    assert len(calls) == 1


def test_declared_backoff_stays_within_its_bounds() -> None:
    from licmon.config.reliability import countdown_bound
    from worker.settings import retry_annotations

    policy = RetryPolicy(3, 15.0, 5, 30.0, 600.0)
    declared = retry_annotations(policy)
    assert declared == {
        "max_retries": 5,
        "retry_backoff": 30,
        "retry_backoff_max": 600,
        "retry_jitter": True,
    }
    for retries in range(8):
        countdowns = {
            get_exponential_backoff_interval(
                declared["retry_backoff"], retries, declared["retry_backoff_max"], True
            )
            for _ in range(200)
        }
        # What the config's visibility check and the claims assume Celery does.
        assert min(countdowns) >= 0 and max(countdowns) <= countdown_bound(policy, retries)
        assert countdown_bound(policy, retries) == min(600, 30 * 2**retries)


def test_claims_count_starts_of_their_owner_only(redis_client: redis.Redis) -> None:
    claims = Claims(redis_client, prefix="test:claim")
    assert claims.start("c", "task-1", 60) == 1
    assert claims.start("c", "task-1", 60) == 2  # redelivered or retried: same task id
    assert claims.start("c", "task-2", 60) == 0  # a duplicate of the same check
    claims.release("c", "task-2")  # not the holder: nothing happens
    assert claims.holder("c") == "task-1"
    claims.complete("c", 60)
    assert claims.start("c", "task-1", 60) == 0  # done refuses everyone
    assert 0 < redis_client.pttl("test:claim:c") <= 60_000


# --- the tasks in an in-process worker ------------------------------------------------------


@dataclass(frozen=True)
class World:
    receiver: HttpReceiver
    state: redis.Redis
    results: redis.Redis
    simulator: Any = None

    def letters(self, check_id: str) -> list[dict[str, Any]]:
        found = [json.loads(raw) for raw in self.state.lrange("licmon:deadletters", 0, -1)]
        return [letter for letter in found if letter["checkId"] == check_id]


def _config_text(certs: QlikCerts, port: int, receiver: HttpReceiver) -> str:
    hooks = {
        "status": [{"webhookURL": receiver.url("/status"), "httpMethod": "POST"}],
        "alert": [
            {"webhookURL": receiver.url("/alert"), "httpMethod": "POST"},
            {"webhookURL": receiver.url("/refuses"), "httpMethod": "POST"},
            {"webhookURL": receiver.url("/flaky"), "httpMethod": "POST"},
        ],
    }
    return textwrap.dedent(
        f"""\
        Butler:
          qlikSenseLicense:
            serverLicenseMonitor:
              alert: {{thresholdDays: 60}}
              destination: {{webhook: {{enable: true}}}}
          webhookNotification:
            enable: true
            qlikSenseServerLicenseMonitor:
              {{rateLimit: 0, webhooks: {json.dumps(hooks["status"])}}}
            qlikSenseServerLicenseExpiryAlert:
              {{rateLimit: 0, webhooks: {json.dumps(hooks["alert"])}}}
        licmon:
          broker: {{url: "{BROKER}", resultBackend: "{RESULTS}", taskEvents: false}}
          retries: {json.dumps(POLICY)}
          timeouts: {{webhook: 1, qrsRead: 2}}
          sites:
            - name: alpha
              host: 127.0.0.1
              port: {port}
              verifyHostname: false
              cert: {{clientCert: {certs.client_cert}, clientCertKey: {certs.client_key},
                     clientCertCA: {certs.root_ca}}}
        """
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[World]:
    from worker import runtime
    from worker.app import app

    certs = ensure_qlik_certs(tmp_path_factory.mktemp("certs"))
    spec = SiteSpec("alpha", license=SimulatedLicense(valid_to=[in_days(30)]))
    state, results = redis.Redis.from_url(BROKER), redis.Redis.from_url(RESULTS)
    state.flushdb()
    results.flushdb()
    with run_simulator([spec], certs) as simulator, contextlib_receiver() as receiver:
        receiver.on("/refuses", status=400)
        receiver.on("/flaky", status=503)
        config = load_config_text(
            _config_text(certs, simulator.sites["alpha"].port, receiver), env={}
        )
        runtime.use(config)
        import tasks.deliver
        import tasks.fetch  # noqa: F401  (registers the tasks with the app)

        with start_worker(
            app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=10
        ):
            yield World(receiver, state, results, simulator)
    state.flushdb()
    results.flushdb()


def contextlib_receiver() -> Any:
    from contextlib import contextmanager

    return contextmanager(run_receiver)()


def fetch(**kwargs: Any) -> Any:
    from tasks.fetch import fetch_license

    return fetch_license.apply_async(kwargs=kwargs)


def test_fan_out_reaches_every_target_once_and_the_check_completes(world: World) -> None:
    check_id = f"alpha@{uuid.uuid4().hex[:8]}"
    result = fetch(site="alpha", check_id=check_id, tick="2026-11-28T00:00:00Z").get(timeout=20)
    assert result["status"] == "warning" and result["daysUntilExpiry"] == 30
    assert [(d["destination"], d["target"]) for d in result["deliveries"]] == [
        ("webhook", "status-1"),
        ("webhook", "alert-1"),
        ("webhook", "alert-2"),
        ("webhook", "alert-3"),
    ]

    def calls(path: str) -> list[Any]:
        return [
            r for r in world.receiver.received(path) if r.headers["x-licmon-check-id"] == check_id
        ]

    wait_for(lambda: calls("/status") and calls("/alert"), 10, "the status and the alert")
    assert calls("/status")[0].json()["event"] == "server license status"
    assert calls("/alert")[0].json()["event"] == "server license about to expire alert"
    # Sent again (a second beat, a resend): the check is done, nothing is fetched or sent.
    assert fetch(site="alpha", check_id=check_id, tick="2026-11-28T00:00:00Z").get(10) is None
    assert world.state.get(f"licmon:claim:check:server_license:{check_id}") == b"done"
    assert (len(calls("/status")), len(calls("/alert"))) == (1, 1)


def test_a_broker_refusing_the_fan_out_is_retried_as_declared_without_reading_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.exceptions import OperationalError

    import tasks.fetch

    real, refused = tasks.fetch.publish, []

    def refuse_once(*args: Any, **kwargs: Any) -> Any:
        if not refused:  # the broker refuses the first fan-out (e.g. Redis restarting)
            refused.append(True)
            raise OperationalError("Connection refused")
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks.fetch, "publish", refuse_once)
    site = world.simulator.sites["alpha"]
    site.reset_counters()
    check_id = f"alpha@{uuid.uuid4().hex[:8]}"
    result = fetch(site="alpha", check_id=check_id, tick="2026-11-28T00:00:01Z").get(timeout=20)
    assert refused and result["status"] == "warning"
    assert site.request_count == 1  # the retry carried the judged status: not read again

    def alerts() -> list[Any]:
        return [
            r
            for r in world.receiver.received("/alert")
            if r.headers["x-licmon-check-id"] == check_id
        ]

    wait_for(alerts, 10, "the alert of the retried fan-out")
    assert len(alerts()) == 1


def test_a_delivery_queued_by_the_release_before_alerts_still_alerts(world: World) -> None:
    """Messages in the queue during an upgrade carry no `outcome` nor `alerts`: their status
    is judged alone, as Butler does (an alert at or below the threshold)."""
    from tasks.deliver import DELIVERY_TASKS

    check_id = f"alpha@{uuid.uuid4().hex[:8]}"
    status = fetch(site="alpha", check_id=check_id, tick="2026-11-28T00:00:00Z").get(20)
    status = {k: v for k, v in status.items() if k not in ("checkId", "deliveries")}
    old_id = f"alpha@old-{uuid.uuid4().hex[:8]}"
    for target in ("alert-1", "status-1"):
        DELIVERY_TASKS["webhook"].apply_async(
            kwargs={
                "site": "alpha",
                "target": target,
                "status": status,
                "check_id": old_id,
                "tick": "2026-11-28T00:00:00Z",
                "kind": "server_license",
            }
        )

    def calls(path: str) -> list[Any]:
        found = world.receiver.received(path)
        return [r for r in found if r.headers["x-licmon-check-id"] == old_id]

    wait_for(lambda: calls("/alert") and calls("/status"), 10, "the old messages delivered")
    assert calls("/alert")[0].json()["event"] == "server license about to expire alert"
    assert calls("/status")[0].json()["event"] == "server license status"


def test_permanent_failure_is_dead_lettered_at_once_and_frees_its_claim(world: World) -> None:
    check_id = f"alpha@{uuid.uuid4().hex[:8]}"
    fetch(site="alpha", check_id=check_id, tick="2026-11-28T00:00:00Z").get(timeout=20)
    (letter,) = wait_for(
        lambda: [x for x in world.letters(check_id) if x["target"] == "alert-2"], 10, "a letter"
    )
    assert (letter["task"], letter["destination"], letter["site"]) == (
        "deliver.webhook",
        "webhook",
        "alpha",
    )
    assert letter["attempts"] == 1 and "HTTP 400" in letter["reason"]
    assert "/refuses" not in json.dumps(letter)  # a webhook is named by key, never its URL
    claim = f"licmon:claim:delivery:{check_id}:server_license:webhook:alert-2"
    assert world.state.get(claim) is None
    assert (
        len(
            [
                r
                for r in world.receiver.received("/refuses")
                if r.headers["x-licmon-check-id"] == check_id
            ]
        )
        == 1
    )


def test_transient_failure_is_retried_as_declared_then_dead_lettered(world: World) -> None:
    check_id = f"alpha@{uuid.uuid4().hex[:8]}"
    fetch(site="alpha", check_id=check_id, tick="2026-11-28T00:00:00Z").get(timeout=20)
    (letter,) = wait_for(
        lambda: [x for x in world.letters(check_id) if x["target"] == "alert-3"], 20, "a letter"
    )
    # The first run and its 2 declared retries, each with 2 quick attempts.
    assert letter["attempts"] == 3 and "HTTP 503" in letter["reason"]
    calls = [
        r for r in world.receiver.received("/flaky") if r.headers["x-licmon-check-id"] == check_id
    ]
    assert len(calls) == 6


def test_redelivery_cap_dead_letters_with_the_real_start_count(world: World) -> None:
    from tasks.deliver import DELIVERY_TASKS

    check_id = f"alpha@{uuid.uuid4().hex[:8]}"
    task_id = f"lost-{uuid.uuid4().hex}"
    claim = f"licmon:claim:delivery:{check_id}:server_license:webhook:status-1"
    # As if the message had killed four workers (acks_late brought it back each time): its
    # claim held by it, its starts counted.
    world.state.set(claim, task_id, ex=600)
    world.state.set(f"{claim}:starts:{task_id}", 4, ex=600)
    outcome = DELIVERY_TASKS["webhook"].apply_async(
        kwargs={
            "site": "alpha",
            "target": "status-1",
            "status": {
                "site": "alpha",
                "checkedAt": "2026-11-28T00:00:00Z",
                "thresholdDays": 60,
                "status": "ok",
            },
            "check_id": check_id,
            "tick": "2026-11-28T00:00:00Z",
        },
        task_id=task_id,
    )
    # Stored although deliveries store no result (`get()` of an ignored result returns None).
    failed = outcome.app.AsyncResult(task_id)
    wait_for(lambda: failed.state == "FAILURE", 10, "the task to fail")
    assert "redelivered 4 times after lost workers" in str(failed.result)
    (letter,) = wait_for(lambda: world.letters(check_id), 10, "the dead letter")
    assert (letter["destination"], letter["target"], letter["attempts"]) == (
        "webhook",
        "status-1",
        5,
    )
    assert world.state.get(claim) is None
    assert not [r for r in world.receiver.received() if r.headers["x-licmon-check-id"] == check_id]


# --- a check kind the pipeline has never heard of -------------------------------------------


@dataclass(frozen=True)
class NodeCount:
    site: str
    nodes: int

    def to_json(self) -> dict[str, Any]:
        return {"site": self.site, "nodes": self.nodes}


class NodeCountCheck:
    """A made-up kind (how many nodes a site reports): no license field anywhere."""

    name = "node_count"
    aliases = ()
    monitor_key = "nodeCountMonitor"
    label = "node count"
    check_measurement = "node_count_check"

    def notices(self, status: NodeCount) -> list[Notice]:
        text = f"{status.site} has {status.nodes} nodes"
        return [Notice(False, "node count", text, "Nodes", text, {"nodes": status.nodes})]

    def remember(self, client: Any, status: NodeCount, at: datetime) -> dict[str, Any]:
        return {}

    def judge(self, site: Any, config: Any, status: NodeCount, memory: Any) -> Any:
        def judge(part: Mapping[str, Any]) -> tuple[list[Message], dict[str, Any]]:
            if part.get("told"):
                return [], dict(part)
            return [Message("too_few", {"nodes": status.nodes})], {"told": True}

        return judge

    def render(self, message: Message, templates: Any, check_id: str) -> Notice:
        nodes = message.fields["nodes"]
        text = f"only {nodes} nodes"
        return Notice(True, "too few nodes", text, "Nodes!", text, {"nodes": nodes})

    def from_json(self, data: Mapping[str, Any]) -> NodeCount:
        return NodeCount(data["site"], data["nodes"])

    def influx_points(self, status: NodeCount, tags: Any, tick: datetime) -> list[InfluxPoint]:
        return [InfluxPoint("nodes", dict(tags), {"count": float(status.nodes)}, tick)]

    def status_document(self, status: NodeCount, check_id: str) -> dict[str, Any]:
        return status.to_json() | {"checkId": check_id}


def test_a_new_check_kind_is_planned_and_delivered_without_pipeline_changes(
    world: World,
) -> None:
    from licmon.registry import Registry
    from tasks.alerting import plan
    from tasks.deliver import DELIVERY_TASKS
    from worker import runtime

    kind = NodeCountCheck()
    status = NodeCount("alpha", 3)
    # Registered in this test only: the worker's configuration gains the kind, whose
    # destination switches are the default kind's (what its own `feature` would say).
    given = runtime.config()
    plugins = given.plugins
    config = dataclasses.replace(
        given,
        plugins=Registry((*plugins.kinds, kind), plugins.destinations),  # type: ignore[arg-type]
        destinations={**given.destinations, kind.name: given.destinations[plugins.kinds[0].name]},
    )
    runtime.use(config)
    check_id = f"alpha@{uuid.uuid4().hex[:8]}"
    outcome = CheckOutcome(ok=True, checked_at=datetime.now(UTC))
    planned = plan(kind, config, config.site("alpha"), status, outcome, check_id)  # type: ignore[arg-type]
    told = [{"what": "too_few", "fields": {"nodes": 3}}]
    assert [(p.destination, p.target, p.alerts) for p in planned] == [
        ("webhook", "status-1", []),
        ("webhook", "alert-1", told),
        ("webhook", "alert-2", told),
        ("webhook", "alert-3", told),
    ]
    # Its policy said it once: the next check tells the alert targets nothing.
    again = plan(kind, config, config.site("alpha"), status, outcome, check_id + "b")  # type: ignore[arg-type]
    assert [(p.destination, p.target) for p in again] == [("webhook", "status-1")]
    DELIVERY_TASKS["webhook"].apply_async(
        kwargs={
            "site": "alpha",
            "target": "alert-1",
            "status": status.to_json(),
            "check_id": check_id,
            "tick": datetime.now(UTC).isoformat(),
            "kind": kind.name,
            "outcome": outcome.to_json(),
            "alerts": told,
        }
    )
    (call,) = wait_for(
        lambda: [
            r
            for r in world.receiver.received("/alert")
            if r.headers["x-licmon-check-id"] == check_id
        ],
        10,
        "the new kind's alert",
    )
    assert call.json() == {"nodes": 3}
    runtime.use(given)
