"""The product as deployed: images built, the compose stack up in a real Docker engine, and
its promises measured (`make deploy-test`). Tests run in file order on one stack; the
fault tests come last, each leaving the stack whole again."""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import SESSION_STARTED, TIMINGS
from tests.deploy.stack import (
    FREQUENCY_SECONDS,
    LEASE_SECONDS,
    REPO,
    VISIBILITY_TIMEOUT,
    Stack,
    run,
    tick_of,
    wait_for,
)

LICMON_IMAGES = ("qlik-license-monitor:latest", "qlik-license-monitor-flower:latest")
DEMO_SERVICES = {
    "preflight",
    "redis",
    "mosquitto",
    "influxdb",
    "beat",
    "worker",
    "flower",
    "qrs-simulator",
}


def test_no_image_layer_holds_the_ca_bundle(images: None, marker_ca: tuple[Path, bytes]) -> None:
    # The images were just built with the marker CA as pip's trust store (a build secret):
    # not one file of any layer, nor the history, holds it.
    _, marker = marker_ca
    for image in LICMON_IMAGES:
        history = run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image])
        assert "ca_bundle" in history.stdout  # the secret mount is there, by name only
        assert marker.decode() not in history.stdout
        saved = subprocess.run(["docker", "save", image], capture_output=True, check=True)
        files = 0
        with tarfile.open(fileobj=io.BytesIO(saved.stdout)) as outer:
            for member in outer.getmembers():
                if not member.name.endswith("layer.tar"):
                    continue
                with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                    for entry in layer.getmembers():
                        if entry.isfile():
                            files += 1
                            data = layer.extractfile(entry).read()
                            assert marker not in data, f"{image}: {entry.name} holds the CA"
        assert files > 1000, files  # the layers were read


def test_preflight_refuses_example_env(stack: Stack) -> None:
    # A second project with deploy/example.env: preflight fails, nothing else starts.
    project = f"{stack.project}-pre"
    done = stack.compose(
        "up",
        "-d",
        "--no-build",
        check=False,
        timeout=120,
        env_file=REPO / "deploy/example.env",
        project=project,
    )
    try:
        assert done.returncode != 0
        logs = stack.compose(
            "logs", "--no-color", "preflight", env_file=REPO / "deploy/example.env", project=project
        ).stdout
        assert "INFLUXDB_PASSWORD still holds a placeholder" in logs
        assert "check-env: refused" in logs
        assert "change-me" not in logs  # named, never shown
        started = run(
            [
                "docker",
                "ps",
                "--filter",
                f"label=com.docker.compose.project={project}",
                "--format",
                "{{.Names}}",
            ]
        ).stdout.split()
        assert started == []
    finally:
        stack.compose(
            "down",
            "-v",
            "--remove-orphans",
            check=False,
            env_file=REPO / "deploy/example.env",
            project=project,
        )


def test_every_demo_service_is_healthy_within_120_s(stack: Stack) -> None:
    assert stack.healthy_seconds is not None and stack.healthy_seconds <= 120
    containers = stack.ps()
    services = {c["Service"] for c in containers}
    assert services >= DEMO_SERVICES, services
    for container in containers:
        if container["Service"] == "preflight":
            assert container["State"] == "exited" and container["ExitCode"] == 0
        else:
            assert (container["State"], container["Health"]) == ("running", "healthy"), container
    assert len([c for c in containers if c["Service"] == "beat"]) == 2
    assert len([c for c in containers if c["Service"] == "worker"]) == 2


def mqtt_subscription(stack: Stack, seconds: int) -> tuple[threading.Thread, list[str]]:
    # mosquitto_sub inside the broker's container, with the credentials the broker was
    # started with ($XDG_CONFIG_HOME/mosquitto_sub): nobody else can subscribe.
    lines: list[str] = []

    def listen() -> None:
        done = stack.exec(
            "mosquitto",
            "mosquitto_sub",
            "-t",
            "qliksense/#",
            "-v",
            "-W",
            str(seconds),
            check=False,
            timeout=seconds + 30,
        )
        lines.extend(done.stdout.splitlines())

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    return thread, lines


def influx_points(stack: Stack, check_tick: str) -> list[dict[str, Any]]:
    if stack.offline:
        # InfluxDB 1.x with auth: the admin's credentials from the environment.
        query = "SELECT * FROM qlik_sense_server_license WHERE time = '" + check_tick + "'"
        done = stack.exec(
            "influxdb",
            "sh",
            "-c",
            'INFLUX_USERNAME="$INFLUXDB_USERNAME" '
            'INFLUX_PASSWORD="$INFLUXDB_PASSWORD" '
            'influx -database butler -format json -execute "$0"',
            query,
            check=False,
        )
        if done.returncode != 0 or not done.stdout.strip():
            return []
        result = json.loads(done.stdout)["results"][0]
        points = []
        for serie in result.get("series", []):
            for row in serie["values"]:
                points.append(dict(zip(serie["columns"], row, strict=True)))
        return points
    flux = (
        'from(bucket:"butler") |> range(start: -1h) '
        '|> filter(fn: (r) => r._measurement == "qlik_sense_server_license") '
        f'|> filter(fn: (r) => r._time == time(v: "{check_tick}"))'
    )
    done = stack.exec("influxdb", "influx", "query", "--raw", flux, check=False)
    return [{"raw": line} for line in done.stdout.splitlines() if "_value" not in line and line]


def test_a_check_reaches_mqtt_influxdb_and_the_webhook(stack: Stack) -> None:
    thread, lines = mqtt_subscription(stack, 3 * FREQUENCY_SECONDS)
    time.sleep(2)  # subscribed before the next tick
    before = set(stack.delivered("demo"))
    fresh = wait_for(
        "a new check of site demo at the webhook receiver",
        lambda: [c for c in stack.delivered("demo") if c not in before],
        timeout=3 * FREQUENCY_SECONDS,
    )
    check_id = fresh[0]
    record = next(r for r in stack.webhook_records() if r["checkId"] == check_id)
    assert record["path"] == "/status" and record["method"] == "POST"
    thread.join()
    published = [
        json.loads(line.split(" ", 1)[1])
        for line in lines
        if line.startswith("qliksense/") and line.split(" ", 1)[1].startswith("{")
    ]
    mine = [m for m in published if m.get("checkId") == check_id]
    assert mine, lines[-5:]
    assert mine[0]["site"] == "demo"
    assert mine[0]["daysUntilExpiry"] in (29, 30)  # the simulator's license: 30 days
    points = wait_for(
        "the check's point in InfluxDB", lambda: influx_points(stack, tick_of(check_id)), timeout=20
    )
    assert len(points) >= 1, points


def test_flower_needs_its_password_and_lists_the_tasks(stack: Stack) -> None:
    port = stack.compose("port", "flower", "5555").stdout.strip().rsplit(":", 1)[1]
    base = f"http://127.0.0.1:{port}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/api/tasks", timeout=10)
    assert refused.value.code == 401
    login = f"{stack.secrets['FLOWER_USER']}:{stack.secrets['FLOWER_PASSWORD']}"
    request = urllib.request.Request(
        f"{base}/api/tasks?limit=500",
        headers={"Authorization": "Basic " + base64.b64encode(login.encode()).decode()},
    )

    def tasks() -> dict[str, Any] | None:
        with urllib.request.urlopen(request, timeout=10) as answer:
            listed = json.load(answer)
        names = Counter(task["name"] for task in listed.values())
        return listed if names["license.fetch"] and names["deliver.webhook"] else None

    listed = wait_for("Flower listing fetch and delivery tasks", tasks, timeout=40, every=3)
    assert any(t["state"] == "SUCCESS" for t in listed.values())


def test_licmon_status_in_the_beat_container_shows_the_site_and_the_leader(
    stack: Stack,
) -> None:
    done = stack.exec("beat", "licmon", "status", check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: the demo license is within 60 days
    assert "demo" in done.stdout and "slow" in done.stdout
    assert "beat: leader " in done.stdout
    view = stack.status()
    leader = view["beat"]["leader"]["host"]
    assert stack.container_by_hostname("beat", leader)
    assert {s["site"]: s["status"] for s in view["sites"]}["demo"] == "warning"


def test_a_beat_cut_off_from_redis_turns_unhealthy(stack: Stack) -> None:
    # The standby beat, disconnected from the compose network: its process lives on, but
    # it cannot reach Redis, so its health check fails (3 x 10 s) instead of passing forever.
    leader = stack.leader()
    assert leader
    leading = stack.container_by_hostname("beat", leader)
    standby = next(c["Name"] for c in stack.running("beat") if c["Name"] != leading)
    network = f"{stack.project}_default"
    run(["docker", "network", "disconnect", network, standby])
    cut = time.monotonic()
    try:
        wait_for(
            f"{standby} unhealthy", lambda: _health(standby) == "unhealthy", timeout=60, every=2
        )
        TIMINGS["beat cut off from Redis: unhealthy after (s)"] = time.monotonic() - cut
        assert stack.leader(leading) == leader  # the leader was never disturbed
    finally:
        run(["docker", "network", "connect", "--alias", "beat", network, standby])
    wait_for(f"{standby} healthy again", lambda: _health(standby) == "healthy", timeout=60)


def _health(container: str) -> str:
    return run(["docker", "inspect", "-f", "{{.State.Health.Status}}", container]).stdout.strip()


def test_killing_the_leading_beat_hands_over_within_the_lease(stack: Stack) -> None:
    leader = stack.leader()
    assert leader
    victim = stack.container_by_hostname("beat", leader)
    killed_at = time.time()
    run(["docker", "kill", victim])
    started = time.monotonic()
    new = wait_for(
        "another beat to lead",
        lambda: (h := stack.leader()) and h != leader and h,
        timeout=60,
        every=0.5,
    )
    takeover = time.monotonic() - started
    TIMINGS["beat takeover after docker kill (s)"] = takeover
    assert takeover <= LEASE_SECONDS + 10
    assert stack.container_by_hostname("beat", new) != victim
    # The next tick after the takeover is delivered, once.
    taken_over = time.time()

    def next_tick() -> list[str] | None:
        ids = [c for c in stack.delivered("demo") if _epoch(tick_of(c)) > taken_over]
        return ids or None

    first = wait_for("the first tick after the takeover", next_tick, timeout=40)[0]
    time.sleep(5)  # a second delivery would have come by now
    assert stack.delivered("demo").count(first) == 1
    # Nothing was sent twice around the kill either.
    around = [c for c in stack.delivered("demo") if _epoch(tick_of(c)) >= killed_at - 30]
    assert max(Counter(around).values()) == 1, Counter(around)
    # `docker kill` counts as a stop for the restart policy: start it again, as an operator.
    run(["docker", "start", victim])
    _restore(stack, "beat", 2)


def _epoch(tick: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(tick.replace("Z", "+00:00")).timestamp()


def _restore(stack: Stack, service: str, count: int) -> None:
    wait_for(
        f"{count} healthy {service} containers",
        lambda: len([c for c in stack.running(service) if c["Health"] == "healthy"]) == count,
        timeout=150,
        every=2,
    )


def active_slow_fetch(stack: Stack) -> tuple[str, str, str] | None:
    """(worker hostname, task id, check id) of a fetch of site `slow` running now, found
    within 5 s of its tick (the slow QRS answers after 8 s: still in flight)."""
    time.sleep(FREQUENCY_SECONDS - time.time() % FREQUENCY_SECONDS + 0.3)
    beat = stack.running("beat")[0]["Name"]
    done = stack.exec_in(
        beat, "celery", "-A", "worker", "inspect", "active", "--json", "--timeout", "2", check=False
    )
    try:
        replies = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    for reply in replies if isinstance(replies, list) else [replies]:
        for node, tasks in reply.items():
            for task in tasks or []:
                text = json.dumps([task.get("args"), task.get("kwargs")])
                if task.get("name") != "license.fetch" or "slow@" not in text:
                    continue
                check_id = text[text.index("slow@") :].split('"', 1)[0]
                if time.time() - _epoch(tick_of(check_id)) < 5:
                    return node.split("@", 1)[1], task["id"], check_id
    return None


def task_check_id(stack: Stack, task_id: str, timeout: float) -> str:
    """The check id a fetch task ran as, from the worker's log line for its success (waits
    for it): a scheduled check stores no result (docs/operations.md)."""
    succeeded = re.compile(
        rf"license\.fetch\[{re.escape(task_id)}\] succeeded in [\d.e-]+s: \{{'checkId': '([^']+)'"
    )

    def ran_as() -> str | None:
        logs = stack.compose("logs", "--no-log-prefix", "worker", check=False).stdout
        found = succeeded.search(logs)
        return found.group(1) if found else None

    return wait_for(f"task {task_id} to succeed", ran_as, timeout=timeout, every=2)


def test_kill_9_of_a_worker_mid_check_loses_nothing(stack: Stack) -> None:
    hostname, task_id, check_id = wait_for(
        "a fetch of the slow site in flight", lambda: active_slow_fetch(stack), timeout=90
    )
    victim = stack.container_by_hostname("worker", hostname)
    run(["docker", "kill", "-s", "KILL", victim])
    killed = time.monotonic()
    assert check_id not in stack.delivered("slow")  # it was still waiting on the QRS
    redone = task_check_id(stack, task_id, timeout=VISIBILITY_TIMEOUT + 15 + 30)
    wait_for(
        f"{redone} delivered after the kill", lambda: redone in stack.delivered("slow"), timeout=20
    )
    TIMINGS["check redone after kill -9 of its worker (s)"] = time.monotonic() - killed
    assert redone == check_id
    # At least once, as the README states: every tick of the slow site since is delivered.
    run(["docker", "start", victim])
    _restore(stack, "worker", 2)
    delivered = set(stack.delivered("slow"))
    ticks = sorted(_epoch(tick_of(c)) for c in delivered)
    since = [t for t in ticks if t >= _epoch(tick_of(check_id))]
    gaps = [b - a for a, b in itertools.pairwise(since)]
    assert all(gap <= 2 * FREQUENCY_SECONDS for gap in gaps), gaps


def queued_fetches(stack: Stack, site: str) -> list[str]:
    """Task ids of `site`'s fetches waiting in license.fetch (kombu's messages in Redis)."""
    done = stack.exec(
        "redis", "redis-cli", "--no-auth-warning", "LRANGE", "license.fetch", "0", "-1"
    )
    ids = []
    for line in done.stdout.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if f"{site}@" in base64.b64decode(message["body"]).decode():
            ids.append(message["headers"]["id"])
    return ids


def test_a_check_queued_before_a_redis_restart_is_delivered_after(stack: Stack) -> None:
    stack.compose("stop", "-t", "10", "worker")
    try:
        queued = wait_for(
            "a check of site demo queued",
            lambda: queued_fetches(stack, "demo"),
            timeout=3 * FREQUENCY_SECONDS,
        )
        task_id = queued[0]
        stack.compose("restart", "redis")
        wait_for(
            "Redis healthy again",
            lambda: stack.running("redis")[0]["Health"] == "healthy",
            timeout=60,
        )
        assert task_id in queued_fetches(stack, "demo")  # AOF kept it
    finally:
        stack.compose("start", "worker")
    # While it waited, the beat restamped it with each newer tick (README: a waiting check
    # runs as the newest tick); it runs once, and that check reaches the receiver.
    check_id = task_check_id(stack, task_id, timeout=90)
    wait_for(
        f"{check_id} delivered after the restart",
        lambda: check_id in stack.delivered("demo"),
        timeout=20,
    )
    assert stack.delivered("demo").count(check_id) == 1
    _restore(stack, "worker", 2)
    _restore(stack, "beat", 2)


def test_four_workers_handle_a_tick_once(stack: Stack) -> None:
    stack.up("--scale", "worker=4")
    healthy = [c for c in stack.running("worker") if c["Health"] == "healthy"]
    assert len(healthy) == 4
    scaled = time.time()
    wait_for(
        "two ticks delivered with four workers",
        lambda: len([c for c in set(stack.delivered("demo")) if _epoch(tick_of(c)) > scaled]) >= 2,
        timeout=4 * FREQUENCY_SECONDS,
    )
    time.sleep(5)
    after = [c for c in stack.delivered("demo") if _epoch(tick_of(c)) > scaled]
    assert set(Counter(after).values()) == {1}, Counter(after)


def test_every_licmon_container_is_non_root_on_a_read_only_root(stack: Stack) -> None:
    containers = [c for c in stack.ps() if c["State"] == "running"]
    licmon = [c for c in containers if c["Image"].startswith("qlik-license-monitor")]
    assert len(licmon) >= 9  # 2 beats, 4 workers, flower, simulators, receiver
    for container in licmon:
        name = container["Name"]
        inspected = json.loads(run(["docker", "inspect", name]).stdout)[0]
        assert inspected["HostConfig"]["ReadonlyRootfs"] is True, name
        uid = stack.exec_in(name, "id", "-u").stdout.strip()
        assert uid != "0", name
        denied = stack.exec_in(name, "touch", "/app/written", check=False)
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr, name


def test_the_deploy_test_took_under_10_minutes() -> None:
    # Images built, stack up, every test above: the whole run (the bound).
    elapsed = time.monotonic() - SESSION_STARTED
    TIMINGS["deploy-test total (s)"] = elapsed
    assert elapsed < 600
