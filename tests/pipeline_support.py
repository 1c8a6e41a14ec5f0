"""Running the real deployment in tests: Celery worker and beat as processes, plus a client.

The test process never imports `worker` (its config is loaded once per process); it talks to
the deployment through the broker, as Flower or another service would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from celery import Celery

REPO = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
BROKER_URL = os.environ.get("LICMON_TEST_BROKER_URL", "redis://127.0.0.1:6379/14")
RESULT_BACKEND = os.environ.get("LICMON_TEST_RESULT_BACKEND", "redis://127.0.0.1:6379/13")


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Deployment:
    """A config file and the processes started from it."""

    root: Path
    document: dict[str, Any]
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    @property
    def config_path(self) -> Path:
        return self.root / "licmon.yaml"

    def env(self) -> dict[str, str]:
        return os.environ | {
            "LICMON_CONFIG": str(self.config_path),
            "LICMON_BROKER_URL": BROKER_URL,
            "LICMON_RESULT_BACKEND": RESULT_BACKEND,
            "LICMON_BEAT_STATE": str(self.root / "beat-schedule"),
            "PYTHONUNBUFFERED": "1",
        }

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.document))

    def start(self, role: str, *extra: str, ready: str) -> subprocess.Popen[bytes]:
        self.write_config()
        log = self.root / f"{role}-{len(self.processes)}.log"
        process = subprocess.Popen(
            [CELERY, "-A", "worker", role, "--loglevel=INFO", *extra],
            cwd=REPO,
            env=self.env(),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append((role, process, log))
        wait_for(
            lambda: ready in log.read_text(errors="replace") or process.poll() is not None,
            30,
            f"celery {role} to start",
        )
        if process.poll() is not None:
            raise AssertionError(f"celery {role} exited:\n{log.read_text(errors='replace')}")
        return process

    def start_worker(self, concurrency: int = 6) -> subprocess.Popen[bytes]:
        return self.start(
            "worker", "-c", str(concurrency), "-n", f"test{len(self.processes)}@%h", ready="ready."
        )

    def start_beat(self) -> subprocess.Popen[bytes]:
        return self.start("beat", ready="beat: Starting")

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for _, process, _ in reversed(self.processes):
            self.stop(process)

    def logs(self) -> str:
        return "\n".join(log.read_text(errors="replace") for _, _, log in self.processes)


def client() -> Celery:
    app = Celery("licmon-test-client", broker=BROKER_URL, backend=RESULT_BACKEND)
    app.conf.task_serializer = "json"
    app.conf.accept_content = ["json"]
    return app
