"""Running `licmon` on hostile input as an operator would, and measuring what it cost.

Each run is a real process. Its wall time and peak resident memory are checked against
generous limits: the point is to catch the seconds-and-gigabytes cases (billion laughs,
/dev/zero, a FIFO), not to benchmark. Peak memory is the child's own high-water mark
(VmHWM in /proc, polled while it runs): rusage would not do, since Linux carries a
process's peak RSS across exec and the child starts as a copy of this test process. The
child gets an address-space limit so that a regression fails the test instead of the
machine.

Set LICMON_HOSTILE_REPORT=<file> to append one JSON line per run (test, case, exit code,
seconds, MB): the figures the README quotes come from there.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
# Generous: a `licmon config validate` takes about 0.4 s and 45 MB on the test machine.
TIME_LIMIT = 10.0
RSS_LIMIT_MB = 200
# What a run may use before the kernel refuses it memory (the failing case, not the limit).
ADDRESS_SPACE_LIMIT = 3 * 1024**3
# Output beyond this is not read back (a billion laughs once printed 312 MB).
OUTPUT_LIMIT = 1024 * 1024
EXIT_CONFIG_VALIDATE = 2
EXIT_CHECK = 3


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float
    rss_mb: float
    output_bytes: int

    @property
    def output(self) -> str:
        return self.out + self.err

    def bounded(self, seconds: float = TIME_LIMIT, rss_mb: float = RSS_LIMIT_MB) -> Run:
        assert self.seconds < seconds, f"{self.args}: {self.seconds:.1f} s"
        assert self.rss_mb < rss_mb, f"{self.args}: {self.rss_mb:.0f} MB"
        assert self.output_bytes < 64 * 1024, f"{self.args}: {self.output_bytes} bytes of output"
        assert "Traceback" not in self.output, self.output
        return self

    def refused(self, code: int, *phrases: str) -> Run:
        """Exit `code` with every phrase on stderr, within the limits."""
        self.bounded()
        assert self.code == code, f"exit {self.code}, expected {code}:\n{self.output}"
        for phrase in phrases:
            assert phrase in self.err, f"{phrase!r} not in:\n{self.err}"
        return self

    def without(self, *secrets: str) -> Run:
        for secret in secrets:
            assert secret not in self.output, f"secret {secret!r} printed:\n{self.output}"
        return self


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def _limited(command: list[str]) -> tuple[list[str], Any]:
    """`command` under the address-space limit: through util-linux's prlimit when there is
    one (a `preexec_fn` makes subprocess fork instead of spawning: slower)."""
    prlimit = shutil.which("prlimit")
    if prlimit:
        return [prlimit, f"--as={ADDRESS_SPACE_LIMIT}", "--", *command], None
    return command, _limit_memory


def licmon(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, case: str = ""
) -> Run:
    """`licmon ARGS` in a child process; its exit code, output, time and peak memory."""
    command = [sys.executable, "-m", "licmon.cli.main", *args]
    base = {key: value for key, value in os.environ.items() if not key.startswith("LICMON_")}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        limited, preexec = _limited(command)
        started = time.monotonic()
        process = subprocess.Popen(
            limited,
            cwd=REPO,
            env=base | (env or {}),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=preexec,
        )
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, _high_water_kib(process.pid))
            pid, status, _ = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                process.kill()
                os.wait4(process.pid, 0)
                process.returncode = -9
                raise AssertionError(f"licmon {' '.join(args)} still running after {timeout} s")
            time.sleep(0.005)
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        texts = []
        sizes = []
        for stream in (out, err):
            sizes.append(stream.tell())
            stream.seek(0)
            texts.append(stream.read(OUTPUT_LIMIT).decode("utf-8", "replace"))
    run = Run(
        args=tuple(args),
        code=process.returncode,
        out=texts[0],
        err=texts[1],
        seconds=seconds,
        rss_mb=peak_kib / 1024,
        output_bytes=sum(sizes),
    )
    _report(run, case)
    return run


def _high_water_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass  # gone, or a zombie without memory
    return 0


def _report(run: Run, case: str) -> None:
    target = os.environ.get("LICMON_HOSTILE_REPORT")
    if not target:
        return
    entry: dict[str, Any] = {
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
        "case": case or " ".join(run.args[:2]),
        "exit": run.code,
        "seconds": round(run.seconds, 2),
        "rss_mb": round(run.rss_mb, 1),
        "output_bytes": run.output_bytes,
    }
    with open(target, "a", encoding="utf-8") as file:
        file.write(json.dumps(entry) + "\n")


def both(path: Path, env: dict[str, str] | None = None, case: str = "") -> tuple[Run, Run]:
    """`config validate` and `check` on the same file: the two commands operators run."""
    return (
        licmon("config", "validate", "--config", str(path), env=env, case=case),
        licmon("check", "--config", str(path), env=env, case=case),
    )


def write(folder: Path, text: str, name: str = "licmon.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def dump(folder: Path, document: dict[str, Any], name: str = "licmon.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def site_document(certs: Path, **site: Any) -> dict[str, Any]:
    """A valid one-site licmon config, with `site` keys laid over the site entry."""
    entry = {
        "name": "prod",
        "host": "127.0.0.1",
        "port": 4242,
        "cert": {
            "clientCert": str(certs / "client.pem"),
            "clientCertKey": str(certs / "client_key.pem"),
            "clientCertCA": str(certs / "root.pem"),
        },
    } | site
    return {
        "Butler": {"qlikSenseLicense": {"serverLicenseMonitor": {"enable": True}}},
        "licmon": {"sites": [entry]},
    }
