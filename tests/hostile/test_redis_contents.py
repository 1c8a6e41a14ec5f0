"""What Redis holds is untrusted input: anyone with access to it can write anything.

Before (issue 22, item 5): one malformed dead letter made `licmon deadletters` print nothing
else (exit 3); one malformed fleet field or counter turned every exporter scrape into HTTP
500, `licmon_redis_up` included, with a traceback per scrape; a forged letter made
`--replay` queue any registered Celery task (`celery.backend_cleanup`); text from Redis
reached the terminal with raw escape codes; a non-integer failure count made `status` exit 2.

Each case runs the real command against a redis-server of the test's own (it is filled
with garbage), with the limits of tests/hostile/support.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from licmon.core.access_license import COUNTED_TYPES
from licmon.deadletters import DeadLetter
from tests.faults.support import RedisServer, running_redis
from tests.hostile.support import REPO, dump, licmon, site_document
from tests.services import free_port, port_open, stop_process

ESCAPE = "\x1b]0;owned\x07\x1b[2J"
FLEET = "licmon:fleet:server_license:prod"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path, persistence="none") as server:
        yield server


def _letter(task: str = "deliver.webhook", **arguments: object) -> str:
    arguments = {
        "site": "prod",
        "target": "status-1",
        "status": {"site": "prod"},
        "check_id": "prod@2026-12-07T00:00:00Z",
        "tick": "2026-12-07T00:00:00+00:00",
    } | arguments
    letter = DeadLetter(
        task, "prod", "webhook", "status-1", "prod@1", f"refused {ESCAPE}", 3, "", "t-1", arguments
    )
    return json.dumps(letter.to_json())


def _garbage(server: RedisServer) -> None:
    client = server.client(0)
    client.hset(
        FLEET,
        mapping={
            "status": "{not json",
            "consecutiveFailures": "many",
            "lastChecked": ESCAPE,
            "lastSuccess": "2026-12-06T00:00:00",  # no zone: would raise when compared
            "errorReason": f"boom {ESCAPE}",
            "checkId": b"\xff\xfe",
        },
    )
    client.hset("licmon:metrics:deliveries", mapping={"webhook|delivered": "x", "mqtt|skipped": 3})
    client.hset("licmon:metrics:check_failures", "prod|timeout", "-1")
    client.hset("licmon:beat:lease", mapping={"token": "t", "host": ESCAPE, "ttl": "x", "pid": 1})
    client.expire("licmon:beat:lease", 60)
    client.hset("license.fetch", "not", "a list")  # WRONGTYPE for LLEN
    client.rpush(
        "licmon:deadletters",
        b"{",
        b"\xff",
        json.dumps([1, 2]),
        json.dumps({"task": 7}),
        _letter("celery.backend_cleanup"),
        _letter(alerts="not a list"),
        _letter(site="elsewhere"),
        _letter(),
    )


def _env(server: RedisServer) -> dict[str, str]:
    return {"LICMON_BROKER_URL": server.url(0), "LICMON_RESULT_BACKEND": server.url(1)}


def test_status_reads_a_malformed_fleet_hash_as_failing_not_a_crash(
    tmp_path: Path, certs: Path, server: RedisServer
) -> None:
    _garbage(server)
    config = str(dump(tmp_path, site_document(certs)))
    for argv in (["status"], ["status", "--json"]):
        run = licmon(*argv, "--config", config, env=_env(server)).bounded()
        # An unreadable count reads as failing: exit 3 (unknown), never 0, never 2.
        assert run.code == 3, run.output
        assert "\x1b" not in run.output and "\x07" not in run.output
        assert f"{FLEET}: malformed" in run.err


def test_deadletters_lists_the_rest_and_names_the_malformed(
    tmp_path: Path, certs: Path, server: RedisServer
) -> None:
    _garbage(server)
    config = str(dump(tmp_path, site_document(certs)))
    run = licmon("deadletters", "--config", config, env=_env(server)).bounded()
    assert run.code == 0, run.output
    assert "8 dead letters, newest 8:" in run.out
    for index, problem in [(0, "not JSON"), (1, "not JSON"), (2, "not a JSON object")]:
        assert f"licmon:deadletters[{index}]: malformed ({problem})" in run.out
    assert "licmon:deadletters[3]: malformed (task is not text)" in run.out
    assert run.out.count("after 3 attempt(s): refused") == 4
    assert "\x1b" not in run.output and "\x07" not in run.output
    listed = json.loads(
        licmon("deadletters", "--json", "--config", config, env=_env(server)).bounded().out
    )
    assert listed[0] == {"malformed": "not JSON", "key": "licmon:deadletters", "index": 0}


def test_replay_sends_only_licmon_tasks_with_their_arguments(
    tmp_path: Path, certs: Path, server: RedisServer
) -> None:
    _garbage(server)
    config = str(dump(tmp_path, site_document(certs)))
    run = licmon("deadletters", "--replay", "--config", config, env=_env(server)).bounded()
    assert run.code == 0, run.output
    assert "'celery.backend_cleanup' is not a check or delivery task of licmon" in run.out
    assert "argument 'alerts' is not what deliver.webhook takes" in run.out
    assert "argument 'site' is not what deliver.webhook takes" in run.out
    assert "replayed 1 of 8; skipped 7 (malformed 4, not ours or malformed 3)" in run.out
    client = server.client(0)
    queued = [json.loads(raw)["headers"]["task"] for raw in client.lrange("deliver.webhook", 0, -1)]
    assert queued == ["deliver.webhook"]
    # Nothing reached Celery's default queue (where backend_cleanup would go).
    assert client.llen("celery") == 0
    # The list is left as it was (a malformed entry is an operator's to look at), and the
    # snapshot the replay read is gone.
    assert client.llen("licmon:deadletters") == 8
    assert client.keys("licmon:deadletters:replaying:*") == []


def test_replay_streams_a_long_list_and_reports(
    tmp_path: Path, certs: Path, server: RedisServer
) -> None:
    client = server.client(0)
    count = 20_000
    good, forged = _letter(), _letter("celery.backend_cleanup")
    with client.pipeline(transaction=False) as pipe:
        for number in range(count):
            pipe.rpush("licmon:deadletters", good if number % 2 else forged)
        pipe.execute()
    config = str(dump(tmp_path, site_document(certs)))
    run = licmon(
        "deadletters", "--replay", "--config", config, env=_env(server), case="replay 20000"
    )
    # A page of letters in memory at a time; 20,000 sends to a local Redis.
    run.bounded(seconds=90, rss_mb=150)
    assert run.code == 0, run.err
    assert f"replayed {count // 2} of {count}; skipped {count // 2}" in run.out
    assert f"({count - 50} more letter lines not shown)" in run.out
    assert len(run.out.splitlines()) < 200
    assert client.llen("deliver.webhook") == count // 2


def test_the_exporter_drops_the_unreadable_parts_alone(
    tmp_path: Path, certs: Path, server: RedisServer
) -> None:
    _garbage(server)
    client = server.client(0)
    client.set("licmon:fleet:server_license:other", "a string, not a hash")
    for name in COUNTED_TYPES:  # the access forecasts' histories: not hashes
        client.set(f"licmon:access:history:prod:{name}", "a string")
    document = site_document(certs)
    document["Butler"]["qlikSenseLicense"]["licenseMonitor"] = {"enable": True}
    document["licmon"]["sites"].append(document["licmon"]["sites"][0] | {"name": "other"})
    config = str(dump(tmp_path, document))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICMON_")} | _env(server)
    log = tmp_path / "exporter.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "licmon.cli.main", "exporter", "--config", config,
             "--port", str(port)],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while not port_open("127.0.0.1", port) and time.monotonic() < deadline:
                time.sleep(0.05)
            answers = [requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10) for _ in "123"]
        finally:
            stop_process(process)
    for answer in answers:
        assert answer.status_code == 200
    text = answers[-1].text
    assert "licmon_redis_up 1.0" in text
    # The access part met WRONGTYPE keys: its series are dropped, and it says so.
    assert 'licmon_exporter_part_up{part="access_license"} 0.0' in text
    assert "qlik_sense_access_license" not in text
    # A queue key of another type is left out; the other queues are still counted.
    assert 'licmon_queue_length{queue="license.fetch"}' not in text
    for part in ("server_license", "checks", "dead_letters", "lease", "deliveries", "queues"):
        assert f'licmon_exporter_part_up{{part="{part}"}} 1.0' in text, part
    # The malformed hash has no readable check time: no check series is made up for it
    # (nor for the key that is not a hash); the counter that is not one is left out.
    assert 'licmon_check_success{check="server_license"' not in text
    assert 'licmon_deliveries_total{destination="mqtt",outcome="skipped"} 3.0' in text
    assert 'licmon_deliveries_total{destination="webhook",outcome="delivered"}' not in text
    assert 'licmon_dead_letters{site="prod",zone=""} 4.0' in text
    logged = log.read_text()
    assert "Traceback" not in logged
    # One warning for the failing part over three scrapes, one per malformed key.
    assert logged.count("exporter part access_license dropped its series") == 1, logged
    assert logged.count(f"{FLEET}: malformed") == 1, logged
    assert "\x1b" not in logged


def test_replay_shows_its_progress_on_a_terminal(
    tmp_path: Path, certs: Path, server: RedisServer
) -> None:
    import pty

    _garbage(server)
    config = str(dump(tmp_path, site_document(certs)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICMON_")} | _env(server)
    leader, follower = pty.openpty()
    try:
        command = ["deadletters", "--replay", "--config", config]
        done = subprocess.run(
            [sys.executable, "-m", "licmon.cli.main", *command],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=follower, timeout=60,
        )  # fmt: skip
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    assert b"\rreplaying 8/8: sent 1, skipped 7" in shown, shown
    # On a pipe (stdout here, and every other test): the summary alone, no progress.
    assert b"\r" not in done.stdout and b"replayed 1 of 8" in done.stdout
