"""Apprise: its config, its targets, and real deliveries through Apprise to a loopback HTTP
receiver (json://) and a loopback SMTP server (mailto://, aiosmtpd), then once through the
whole pipeline. Nothing here is mocked; the URL's secrets are looked for everywhere."""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import json
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from licmon.checks.server_license import SERVER_LICENSE
from licmon.config import ConfigError
from licmon.config.model import Site
from licmon.core import payloads
from licmon.core.alerts import CheckOutcome
from licmon.core.server_license import LicenseStatus, evaluate_license
from licmon.destinations.base import Delivery
from licmon.plugins import PLUGINS, load_config
from licmon.resources import Resources
from licmon.senders.apprise import APPRISE_LOGGER, AppriseTarget, send_apprise
from licmon.senders.errors import PermanentDeliveryError, TransientDeliveryError
from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, run_simulator
from tests.http_receiver import HttpReceiver, run_receiver
from tests.pipeline_support import (
    Deployment,
    MessageLog,
    document,
    fetch,
    in_days,
    wait_for,
)
from tests.services import MQTT_PORT, REDIS_URL, InfluxServer, free_port

destination = PLUGINS.destination

pytest_plugins = ["tests.pipeline_fixtures"]

# In every URL below; it must never show in a log, an error, a task or a dead letter.
SECRET = "Apr1se-s3cret"
NOW = datetime(2026, 11, 28, 3, 17, tzinfo=UTC)
TICK = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
CHECK_ID = "prod@2026-11-28T00:00:00Z"


def status_for(key_details: str) -> LicenseStatus:
    return evaluate_license("prod", {"keyDetails": key_details, "isExpired": False}, NOW, 60)


THIRTY_DAYS = status_for("Valid To: 2026-12-28")  # a status and an alert
PERPETUAL = status_for("")  # a status only


def target(url: str, **changes: Any) -> AppriseTarget:
    fields: dict[str, Any] = {
        "key": "apprise-1",
        "url": SecretStr(url),
        "tags": (),
        "send_recurring": False,
        "send_alert": True,
        "timeout": 5.0,
    }
    return AppriseTarget(**(fields | changes))


# --- configuration ---------------------------------------------------------------------------


def load(
    tmp_path: Path, apprise: dict[str, Any] | None, env: dict[str, str] | None = None, **licmon: Any
) -> Any:
    ours = dict(licmon) | ({"apprise": apprise} if apprise is not None else {})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"licmon": ours}))
    return load_config(path, env=env or {})


def problems_of(
    tmp_path: Path, apprise: dict[str, Any], env: dict[str, str] | None = None
) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, apprise, env)
    return [str(problem) for problem in caught.value.problems]


def test_off_unless_enabled(tmp_path: Path) -> None:
    assert load(tmp_path, None).settings("apprise") is None
    listed = {"urls": [{"url": "json://127.0.0.1/hook"}]}
    assert load(tmp_path, listed).settings("apprise") is None


def test_defaults_are_alerts_only_and_ten_seconds(tmp_path: Path) -> None:
    config = load(tmp_path, {"enable": True, "urls": [{"url": f"json://127.0.0.1/{SECRET}"}]})
    (only,) = config.settings("apprise")
    assert (only.key, only.tags, only.send_recurring, only.send_alert, only.timeout) == (
        "apprise-1",
        (),
        False,
        True,
        10.0,
    )
    assert only.url.get_secret_value() == f"json://127.0.0.1/{SECRET}"
    assert SECRET not in repr(config) + str(config)


def test_switches_tags_and_timeout(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        {
            "enable": True,
            "urls": [
                {
                    "url": "mailto://user:pass@example.com",
                    "tags": ["ops", 42],
                    "sendRecurring": {"enable": True},
                    "sendAlert": {"enable": "false"},
                },
            ],
        },
        timeouts={"apprise": 2.5},
    )
    (only,) = config.settings("apprise")
    assert (only.tags, only.send_recurring, only.send_alert, only.timeout) == (
        ("ops", "42"),
        True,
        False,
        2.5,
    )


def test_url_from_the_environment_replaces_entry_n(tmp_path: Path) -> None:
    apprise = {"enable": True, "urls": [{"url": "json://127.0.0.1/file"}, {"tags": ["chat"]}]}
    env = {"LICMON_APPRISE_URL_2": f"json://licmon:{SECRET}@127.0.0.1/env"}
    config = load(tmp_path, apprise, env)
    first, second = config.settings("apprise")
    assert first.url.get_secret_value() == "json://127.0.0.1/file"
    assert (second.key, second.tags) == ("apprise-2", ("chat",))
    assert second.url.get_secret_value() == env["LICMON_APPRISE_URL_2"]
    assert SECRET not in repr(config) + str(config)
    env = {"LICMON_APPRISE_URL_1": f"mailto://licmon:{SECRET}@example.com"}
    first, _ = load(
        tmp_path, apprise | {"urls": [{"url": "json://h/x"}, {"url": "json://h/y"}]}, env
    ).settings("apprise")
    assert first.url.get_secret_value() == env["LICMON_APPRISE_URL_1"]


def test_bad_urls_are_named_by_key_or_variable_never_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(1)  # everything anybody logs while the file is read
    apprise = {
        "enable": True,
        "urls": [
            {"url": f"json://127.0.0.1/{SECRET}"},
            {"url": f"nosuchservice://{SECRET}@example.com/{SECRET}"},
            # Slack's token check fails; Apprise's warning would quote the token.
            {"url": f"slack://{SECRET}/B000/C000"},
            {"url": 42},
            {},
        ],
    }
    problems = problems_of(tmp_path, apprise, env={"LICMON_APPRISE_URL_1": f"{SECRET} no url"})
    understood = "expected a URL that Apprise understands"
    assert [problem.split(":", 1)[0] for problem in problems] == [
        "LICMON_APPRISE_URL_1",
        "licmon.apprise.urls[1].url",
        "licmon.apprise.urls[2].url",
        "licmon.apprise.urls[3].url",
    ]
    assert all(understood in problem for problem in problems[:3])
    assert problems[3] == "licmon.apprise.urls[3].url: expected an Apprise URL such as mailto://..."
    assert SECRET not in "\n".join(problems)
    assert SECRET not in caplog.text
    assert not [record for record in caplog.records if record.name.startswith(APPRISE_LOGGER)]


def test_enabled_needs_urls_and_each_url(tmp_path: Path) -> None:
    assert problems_of(tmp_path, {"enable": True}) == [
        "licmon.apprise.urls: at least one entry is required when licmon.apprise.enable is "
        "true (its url in the file or in LICMON_APPRISE_URL_<N>)"
    ]
    assert problems_of(tmp_path, {"enable": True, "urls": [{"url": "json://h/x"}, {}]}) == [
        "licmon.apprise.urls[1].url: required (or set LICMON_APPRISE_URL_2)"
    ]


def test_both_switches_off_is_a_warning(tmp_path: Path) -> None:
    entry = {"url": "json://h/x", "sendAlert": {"enable": False}}
    config = load(tmp_path, {"enable": True, "urls": [entry]})
    assert config.warnings == (
        "licmon.apprise.urls[0]: sendRecurring and sendAlert are both off: nothing is sent",
    )


# --- targets ---------------------------------------------------------------------------------


def test_targets_follow_the_switches() -> None:
    apprise = destination("apprise")
    settings = (
        target("json://h/1", key="apprise-1"),  # alerts only: the default
        target("json://h/2", key="apprise-2", send_recurring=True),
        target("json://h/3", key="apprise-3", send_recurring=True, send_alert=False),
        target("json://h/4", key="apprise-4", send_alert=False),
    )
    assert apprise.status_targets(settings) == ["apprise-2", "apprise-3"]
    assert apprise.alert_targets(settings) == ["apprise-1", "apprise-2"]


# --- deliveries: json:// -----------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from run_receiver()


def json_url(receiver: HttpReceiver, path: str) -> str:
    return f"json://licmon:{SECRET}@127.0.0.1:{receiver.port}{path}?token={SECRET}"


def test_json_gets_the_notice_title_body_and_type(receiver: HttpReceiver) -> None:
    _, alert = payloads.notices(THIRTY_DAYS)
    send_apprise(target(json_url(receiver, f"/hook/{SECRET}")), alert.title, alert.body, alert=True)
    (call,) = receiver.received()
    assert (call.method, call.path) == ("POST", f"/hook/{SECRET}")
    sent = call.json()
    assert isinstance(sent, dict)
    assert {key: sent[key] for key in ("title", "message", "type")} == {
        "title": "Qlik Sense license alert: prod",
        "message": "prod: Qlik Sense server license is about to expire in 30 days, on 2026-12-28",
        "type": "warning",
    }
    # The userinfo is Apprise's Basic authentication.
    expected = base64.b64encode(f"licmon:{SECRET}".encode()).decode()
    assert call.headers["authorization"] == f"Basic {expected}"

    status, _ = payloads.notices(THIRTY_DAYS)
    send_apprise(target(json_url(receiver, "/status")), status.title, status.body, alert=False)
    sent = receiver.received("/status")[0].json()
    assert isinstance(sent, dict)
    assert (sent["title"], sent["message"], sent["type"]) == (status.title, status.body, "info")


def test_a_refusing_service_is_transient_and_nameless(
    receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.on(f"/fails/{SECRET}", status=500)
    with pytest.raises(TransientDeliveryError) as refused:
        send_apprise(target(json_url(receiver, f"/fails/{SECRET}")), "t", "b", alert=True)
    with pytest.raises(TransientDeliveryError) as unreachable:
        url = f"json://licmon:{SECRET}@127.0.0.1:{free_port()}/x/{SECRET}?token={SECRET}"
        send_apprise(target(url), "t", "b", alert=True)
    for caught in (refused, unreachable):
        assert str(caught.value).startswith("apprise delivery to apprise-1 (json://…) failed")
        assert SECRET not in str(caught.value)
        assert caught.value.transient
    # Apprise's warning says what happened, with the URL's parts masked.
    warnings = [r.getMessage() for r in caplog.records if r.name == APPRISE_LOGGER]
    assert any("error=500" in message for message in warnings), warnings
    assert (
        "apprise-1 (json://…): A Connection error occurred sending JSON notification to …."
        in warnings
    )
    assert SECRET not in caplog.text and "127.0.0.1" not in "\n".join(warnings)


def test_a_silent_service_is_bounded_by_the_timeout(receiver: HttpReceiver) -> None:
    receiver.on("/hang", hang=True)
    started = time.monotonic()
    with pytest.raises(TransientDeliveryError, match=r"no answer within 0\.5 s"):
        send_apprise(target(json_url(receiver, "/hang"), timeout=0.5), "t", "b", alert=True)
    assert time.monotonic() - started < 3


def test_a_url_apprise_cannot_use_is_permanent() -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        send_apprise(target(f"nosuchservice://{SECRET}@h/x"), "t", "b", alert=True)
    assert str(caught.value) == (
        "apprise delivery to apprise-1 (nosuchservice://…) failed (permanent): "
        "Apprise does not understand this URL"
    )


def test_apprise_never_logs_below_warning_even_when_asked(
    receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    # An operator's logging config (or `--loglevel=DEBUG`) may open everything up; at TRACE
    # Apprise would print the URL with its password, at DEBUG the request URL and its path.
    caplog.set_level(1)
    logging.getLogger(APPRISE_LOGGER).setLevel(1)
    send_apprise(target(json_url(receiver, f"/ok/{SECRET}")), "t", "b", alert=False)
    assert len(receiver.received()) == 1
    assert logging.getLogger(APPRISE_LOGGER).level == logging.WARNING
    quiet = [r for r in caplog.records if r.name == APPRISE_LOGGER and r.levelno < logging.WARNING]
    assert quiet == []
    assert SECRET not in caplog.text


def test_each_notice_is_sent_once_through_the_destination(
    receiver: HttpReceiver, redis_client: redis.Redis
) -> None:
    apprise = destination("apprise")
    settings = (target(json_url(receiver, "/both"), send_recurring=True),)
    delivery = Delivery(
        site=site("prod"),
        kind=SERVER_LICENSE,
        status=THIRTY_DAYS,
        notices=payloads.notices(THIRTY_DAYS),
        check_id=CHECK_ID,
        tick=TICK,
        outcome=CheckOutcome(ok=True, checked_at=TICK),
    )
    resources = Resources(REDIS_URL)
    try:
        done = apprise.deliver(settings, "apprise-1", delivery, resources)
        # The same delivery started again, as a retry after its last notice failed: what was
        # sent before it is not sent again. (The last notice has no record of its own: when
        # it succeeds the task ends and marks the delivery's claim done, which refuses it.)
        again = apprise.deliver(
            settings, "apprise-1", dataclasses.replace(delivery, first_start=False), resources
        )
    finally:
        resources.close()
    assert done == "sent 'server license status'; sent 'server license about to expire alert'"
    assert (
        again == "'server license status' sent before; sent 'server license about to expire alert'"
    )
    titles = [call.json()["title"] for call in receiver.received("/both")]  # type: ignore[index]
    assert titles == [
        "Qlik Sense license status: prod",
        "Qlik Sense license alert: prod",
        "Qlik Sense license alert: prod",
    ]


def site(name: str) -> Site:
    return Site(
        name=name,
        host="127.0.0.1",
        port=4242,
        client_cert=Path("client.pem"),
        client_key=Path("client_key.pem"),
        root_ca=None,
        use_ssl=True,
        verify_hostname=True,
        reject_unauthorized=True,
        headers=(),
        tags=(),
        checks=(("server_license", "every 24 hours"),),
        connect_timeout=5,
        read_timeout=30,
    )


# --- deliveries: mailto:// to a plain local SMTP server --------------------------------------

SMTP_USER = "licmon"


@dataclass
class Mailbox:
    """What the SMTP server accepted, and the logins it saw."""

    messages: list[Envelope] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(
            success=(data.login, data.password) == (SMTP_USER.encode(), SECRET.encode())
        )


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    # Plain SMTP with AUTH on loopback: what a relay inside the network offers. aiosmtpd
    # only offers AUTH over TLS unless told otherwise.
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=mailbox.authenticate,
        auth_require_tls=False,
    )
    # The server's own log names senders and recipients; only ours is under test.
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    server_log.setLevel(logging.WARNING)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
        server_log.setLevel(level)


def mailto(port: int, to: str = "ops@example.com", password: str = SECRET) -> str:
    # mode=insecure: no TLS at all (Apprise's default is STARTTLS); from= and to= because the
    # user name is not an address.
    return (
        f"mailto://{SMTP_USER}:{password}@127.0.0.1:{port}"
        f"?mode=insecure&from=licmon@example.com&to={to}"
    )


def test_mailto_sends_the_title_as_subject_and_the_body(
    smtp: tuple[Mailbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(1)
    mailbox, port = smtp
    _, alert = payloads.notices(THIRTY_DAYS)
    send_apprise(target(mailto(port)), alert.title, alert.body, alert=True)
    assert mailbox.logins == [(SMTP_USER.encode(), SECRET.encode())]
    (envelope,) = mailbox.messages
    assert (envelope.mail_from, envelope.rcpt_tos) == ("licmon@example.com", ["ops@example.com"])
    assert isinstance(envelope.original_content, bytes)
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["Subject"] == "Qlik Sense license alert: prod"
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain.get_content().strip() == alert.body
    assert SECRET not in caplog.text and "ops@example.com" not in caplog.text


def test_mailto_failures_are_transient_and_masked(
    smtp: tuple[Mailbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mailbox, port = smtp
    mailbox.refuse.add("nobody@example.com")
    with pytest.raises(TransientDeliveryError) as refused:
        send_apprise(target(mailto(port, to="nobody@example.com")), "t", "b", alert=True)
    with pytest.raises(TransientDeliveryError):
        send_apprise(target(mailto(port, password="wrong-" + SECRET)), "t", "b", alert=True)
    assert mailbox.messages == []
    assert str(refused.value).startswith("apprise delivery to apprise-1 (mailto://…) failed")
    warnings = [r.getMessage() for r in caplog.records if r.name == APPRISE_LOGGER]
    assert any("Sending email to" in message for message in warnings), warnings
    assert "nobody@example.com" not in caplog.text and SECRET not in caplog.text


def test_mailto_to_a_silent_server_is_bounded_by_the_timeout() -> None:
    # Accepts the connection (the kernel does, into the backlog) and never greets.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(TransientDeliveryError):
            send_apprise(target(mailto(port), timeout=0.5), "t", "b", alert=True)
        assert time.monotonic() - started < 3


# --- through the pipeline --------------------------------------------------------------------


# Names of their own: the session's InfluxDB and dead-letter list are shared with the other
# pipeline tests, which count their sites' points and letters.
SOON, FOREVER = "chat-soon", "chat-forever"


@pytest.fixture(scope="module")
def with_apprise(
    tmp_path_factory: pytest.TempPathFactory,
    certs: QlikCerts,
    pipeline_receiver: HttpReceiver,
    topics: tuple[str, MessageLog],
    influx_server: InfluxServer,
    broker: redis.Redis,
) -> Iterator[Deployment]:
    receiver = pipeline_receiver
    sites = [
        SiteSpec(SOON, license=SimulatedLicense(valid_to=[in_days(30)])),
        SiteSpec(FOREVER, license=SimulatedLicense.perpetual()),
    ]
    with run_simulator(sites, certs) as simulator:
        config = document(
            certs,
            simulator,
            receiver,
            influx_server.http_port,
            topics[0],
            status_hooks=[],
            alert_hooks=[],
        )
        config["Butler"]["mqttConfig"]["brokerPort"] = MQTT_PORT
        config["licmon"]["timeouts"]["apprise"] = 2
        config["licmon"]["apprise"] = {
            "enable": True,
            "urls": [
                {"url": json_url(receiver, f"/apprise/{SECRET}")},
                # Nothing listens there: retried, then dead-lettered.
                {"url": f"json://licmon:{SECRET}@127.0.0.1:{free_port()}/gone?token={SECRET}"},
            ],
        }
        deployment = Deployment(tmp_path_factory.mktemp("apprise"), config)
        try:
            yield deployment
        finally:
            deployment.stop_all()


@pytest.fixture(scope="module")
def pipeline_receiver() -> Iterator[HttpReceiver]:
    yield from run_receiver()


def queued(broker: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """The messages waiting in a Celery queue on Redis, decoded."""
    found = []
    for raw in broker.lrange(queue, 0, -1):
        message = json.loads(raw)
        found.append(message | {"body": json.loads(base64.b64decode(message["body"]))})
    return found


def test_an_alert_reaches_apprise_once_per_check_and_the_url_stays_secret(
    with_apprise: Deployment, pipeline_receiver: HttpReceiver, broker: redis.Redis
) -> None:
    receiver = pipeline_receiver
    deployment = with_apprise
    # First only the fetch queue is consumed, so the delivery tasks can be read in Redis.
    fetcher = deployment.start(
        "worker", "-Q", "license.fetch", "-c", "1", "-n", "fetcher@%h", ready="ready."
    )
    tick = "2026-11-28T00:00:00Z"
    result = fetch(SOON, f"{SOON}@{tick}", tick).get(timeout=30)
    assert sorted(d["target"] for d in result["deliveries"] if d["destination"] == "apprise") == [
        "apprise-1",
        "apprise-2",
    ]
    waiting = queued(broker, "deliver.apprise")
    assert sorted(message["body"][1]["target"] for message in waiting) == ["apprise-1", "apprise-2"]
    assert SECRET not in json.dumps(waiting) and SECRET not in json.dumps(result)
    deployment.stop(fetcher)

    deployment.start_worker()
    # The same tick again (a second beat): delivered once. A later tick: once more.
    assert fetch(SOON, f"{SOON}@{tick}", tick).get(timeout=30) is None
    later = "2026-11-29T00:00:00Z"
    fetch(SOON, f"{SOON}@{later}", later).get(timeout=30)
    # A perpetual license raises no alert, and the default sendRecurring is off.
    forever = fetch(FOREVER, f"{FOREVER}@{later}", later).get(timeout=30)
    assert "apprise" not in {d["destination"] for d in forever["deliveries"]}

    path = f"/apprise/{SECRET}"
    wait_for(lambda: len(receiver.received(path)) >= 2, 15, "two Apprise alerts")
    time.sleep(2)  # let any duplicate arrive before counting
    calls = receiver.received(path)
    alert_text = f"Qlik Sense server license is about to expire in 30 days, on {in_days(30)}"
    assert [call.json() for call in calls] == [
        {
            "version": "1.0",
            "title": f"Qlik Sense license alert: {SOON}",
            "message": f"{SOON}: {alert_text}",
            "attachments": [],
            "type": "warning",
        }
    ] * 2

    def dead_letters() -> list[dict[str, Any]]:
        entries = [json.loads(raw) for raw in broker.lrange("licmon:deadletters", 0, -1)]
        return [entry for entry in entries if entry["destination"] == "apprise"]

    letters = wait_for(lambda: len(dead_letters()) >= 2 and dead_letters(), 60, "dead letters")
    assert {(letter["target"], letter["site"]) for letter in letters} == {("apprise-2", SOON)}
    assert all(letter["attempts"] == 2 for letter in letters)  # the first run and one retry
    assert "transient" in letters[0]["reason"]
    assert f"(site {SOON}, check " in deployment.logs()  # apprise-1 delivered
    # Nowhere: not in the logs, the dead letters, nor anything left in either Redis database.
    assert SECRET not in deployment.logs()
    assert SECRET not in json.dumps(letters)
    for database in (broker, redis.Redis.from_url(deployment.env()["LICMON_RESULT_BACKEND"])):
        for key in database.scan_iter():
            assert SECRET.encode() not in dump(database, key), key


def dump(database: redis.Redis, key: bytes) -> bytes:
    kind = database.type(key)
    if kind == b"string":
        return database.get(key) or b""
    if kind == b"list":
        return b"".join(database.lrange(key, 0, -1))
    if kind == b"hash":
        return b"".join(k + v for k, v in database.hgetall(key).items())
    if kind == b"set":
        return b"".join(database.smembers(key))
    if kind == b"zset":
        return b"".join(database.zrange(key, 0, -1))
    return b""
