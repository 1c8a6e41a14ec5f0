"""The deployment's own scripts, run for real: placeholders refused before anything starts,
Redis and Mosquitto up with a password that is on no command line.

Before: Redis had no password and Mosquitto `allow_anonymous true`, so any container on the
compose network could queue `deliver.*` tasks with a forged status; example.env's
`change-me-please` passed compose's `:?` check.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import redis
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import service_missing
from tests.services import free_port, port_open, stop_process

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
GOOD = {
    "INFLUXDB_PASSWORD": "0f9c2a7d4b1e8a6c5d3f",
    "INFLUXDB_TOKEN": "7be1c04d9a2f6e8b3c5a1d7f",
    "FLOWER_PASSWORD": "c3a9e1f7b5d2a8c4e6f0",
    "REDIS_PASSWORD": "r3d1s-Pa55word.0123",
    "MQTT_USERNAME": "licmon",
    "MQTT_PASSWORD": "mq77-Pa55word_0123",
}


def check_env(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(DEPLOY / "check-env.sh"), *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **(env or {})},
        timeout=30,
    )


def env_file(folder: Path, values: dict[str, str]) -> Path:
    path = folder / ".env"
    path.write_text("# a comment\n\n" + "".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_example_env_is_refused_by_name_without_its_values() -> None:
    done = check_env(str(DEPLOY / "example.env"))
    assert done.returncode == 1
    for name in ("INFLUXDB_PASSWORD", "INFLUXDB_TOKEN", "FLOWER_PASSWORD", "REDIS_PASSWORD"):
        assert f"{name} still holds a placeholder" in done.stderr
    for line in (DEPLOY / "example.env").read_text().splitlines():
        if "change-me" in line:
            assert line.split("=", 1)[1] not in done.stderr + done.stdout


def test_good_secrets_pass_from_a_file_and_from_the_environment(tmp_path: Path) -> None:
    assert check_env(str(env_file(tmp_path, GOOD))).returncode == 0
    assert check_env(env=GOOD).returncode == 0
    quoted = {key: f'"{value}"' for key, value in GOOD.items()}
    assert check_env(str(env_file(tmp_path, quoted))).returncode == 0


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("INFLUXDB_TOKEN", "Change-Me-Later-Please", "still holds a placeholder"),
        ("FLOWER_PASSWORD", "s7q-xK2", "shorter than 16 characters"),
        ("REDIS_PASSWORD", "needs/escaping:in-a-url", "may hold only letters"),
        ("MQTT_USERNAME", "user:name", "may hold only letters"),
        ("MQTT_PASSWORD", "", "MQTT_PASSWORD is not set"),
    ],
)
def test_weak_secrets_are_refused(tmp_path: Path, name: str, value: str, reason: str) -> None:
    done = check_env(str(env_file(tmp_path, GOOD | {name: value})))
    assert done.returncode == 1 and reason in done.stderr
    if value:
        assert value not in done.stderr


def test_an_env_line_cannot_change_the_scripts_path(tmp_path: Path) -> None:
    path = env_file(tmp_path, GOOD | {"PATH": "/nonexistent"})
    assert check_env(str(path)).returncode == 0


def test_make_check_env(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    if shutil.which("make") is None:
        service_missing(pytestconfig, "make")
    bad = subprocess.run(
        ["make", "-s", "check-env", f"ENV_FILE={DEPLOY / 'example.env'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "still holds a placeholder" in bad.stderr
    good = subprocess.run(
        ["make", "-s", "check-env", f"ENV_FILE={env_file(tmp_path, GOOD)}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert good.returncode == 0, good.stderr


def wait_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 15
    while not port_open("127.0.0.1", port):
        assert process.poll() is None, f"{what} exited"
        assert time.monotonic() < deadline, f"{what} did not listen"
        time.sleep(0.05)


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.fixture
def redis_started(
    tmp_path: Path, pytestconfig: pytest.Config
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    if shutil.which("redis-server") is None:
        service_missing(pytestconfig, "redis-server")
    port = free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        ["sh", str(DEPLOY / "redis-start.sh"), *options, "--dir", str(tmp_path)],
        env={"PATH": os.environ["PATH"], "REDISCLI_AUTH": GOOD["REDIS_PASSWORD"]},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, process, "redis-server")
        yield port, process
    finally:
        stop_process(process)


def test_redis_requires_its_password_and_never_shows_it(
    redis_started: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, process = redis_started
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    assert redis.Redis(port=port, password=GOOD["REDIS_PASSWORD"]).ping()
    # The script execs redis-server: same process, and the password in no argument.
    assert "redis-server" in cmdline(process.pid)
    assert GOOD["REDIS_PASSWORD"] not in cmdline(process.pid)
    # The compose health check, as written there.
    check = subprocess.run(
        ["sh", "-c", f"redis-cli -p {port} ping | grep -q PONG"],
        env={"PATH": os.environ["PATH"], "REDISCLI_AUTH": GOOD["REDIS_PASSWORD"]},
        timeout=30,
    )
    assert check.returncode == 0
    refused = subprocess.run(
        ["sh", "-c", f"redis-cli -p {port} ping | grep -q PONG"],
        env={"PATH": os.environ["PATH"]},
        timeout=30,
    )
    assert refused.returncode != 0


@pytest.fixture
def mosquitto_started(
    tmp_path: Path, pytestconfig: pytest.Config
) -> Iterator[tuple[int, Path, subprocess.Popen[bytes]]]:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        service_missing(pytestconfig, "mosquitto and mosquitto_passwd")
    port, run = free_port(), tmp_path / "run"
    run.mkdir()
    # deploy/mosquitto.conf itself, moved to a free loopback port and this test's folder.
    conf = (DEPLOY / "mosquitto.conf").read_text()
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    conf = conf.replace("/mosquitto/run", str(run))
    # As root, Mosquitto would switch to user "mosquitto", who cannot read our folder.
    (tmp_path / "mosquitto.conf").write_text(conf + f"user {getpass.getuser()}\n")
    env = {
        "PATH": os.environ["PATH"],
        "MQTT_USERNAME": GOOD["MQTT_USERNAME"],
        "MQTT_PASSWORD": GOOD["MQTT_PASSWORD"],
        "MOSQUITTO_RUN": str(run),
        "MOSQUITTO_CONF": str(tmp_path / "mosquitto.conf"),
    }
    process = subprocess.Popen(
        ["sh", str(DEPLOY / "mosquitto-start.sh")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, process, "mosquitto")
        yield port, run, process
    finally:
        stop_process(process)


def connect(port: int, username: str | None, password: str | None) -> str:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    if username:
        client.username_pw_set(username, password)
    outcome: list[str] = []
    client.on_connect = lambda c, u, flags, reason, props: outcome.append(str(reason))
    client.connect("127.0.0.1", port, keepalive=10)
    deadline = time.monotonic() + 10
    while not outcome and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
    return outcome[0] if outcome else "no answer"


def test_mosquitto_requires_the_password_file_it_generates(
    mosquitto_started: tuple[int, Path, subprocess.Popen[bytes]],
) -> None:
    port, run, process = mosquitto_started
    assert connect(port, None, None) == "Not authorized"
    assert connect(port, GOOD["MQTT_USERNAME"], "wrong-password") == "Not authorized"
    assert connect(port, GOOD["MQTT_USERNAME"], GOOD["MQTT_PASSWORD"]) == "Success"
    # Hashed, private, and on no command line.
    passwd = run / "passwd"
    assert GOOD["MQTT_PASSWORD"] not in passwd.read_text()
    assert passwd.stat().st_mode & 0o077 == 0
    assert GOOD["MQTT_PASSWORD"] not in cmdline(process.pid)
    # The compose health check: mosquitto_sub reads -u/-P from $XDG_CONFIG_HOME.
    check = subprocess.run(
        ["mosquitto_sub", "-p", str(port), "-t", "$SYS/broker/uptime", "-C", "1", "-W", "5"],
        env={"PATH": os.environ["PATH"], "XDG_CONFIG_HOME": str(run)},
        capture_output=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr
