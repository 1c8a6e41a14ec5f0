"""`licmon check` run by a real Nagios 4 (Debian's `nagios4-core`) against the simulator.

The test writes a Nagios configuration of its own in a temporary folder (one host, one
service per case, each a `licmon check ... --site X` command line), starts `nagios4` in the
foreground with `interval_length=1` (intervals in seconds) and no initial spreading, lets
its scheduler run the checks, and reads back what it recorded in `status.dat`: the state,
the plugin output, the long output and the performance data. The perfdata must round-trip
exactly and parse with the guidelines' grammar (tests/test_plugin_output.py's parser).

Missing `nagios4`: skipped locally, a failure under --require-services (CI installs it:
.ci/run).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from licmon.simulator import QlikCerts, SimulatedLicense, SiteSpec, ensure_qlik_certs, run_simulator
from licmon.simulator.server import Simulator
from tests.conftest import service_missing
from tests.pipeline_support import site_entries
from tests.services import free_port
from tests.test_plugin_output import PERF

TODAY = dt.datetime.now(dt.UTC).date()
LICMON = Path(sys.executable).parent / "licmon"
# Nagios's `\n` in status.dat stands for a line break of the long output.
NAGIOS = shutil.which("nagios4") or (
    "/usr/sbin/nagios4" if Path("/usr/sbin/nagios4").exists() else None
)


def in_days(days: int) -> dt.date:
    return TODAY + dt.timedelta(days=days)


@pytest.fixture(scope="module")
def nagios(pytestconfig: pytest.Config) -> str:
    if NAGIOS is None:
        service_missing(pytestconfig, "Nagios 4 (nagios4, Debian package 'nagios4-core')")
    assert NAGIOS is not None
    return NAGIOS


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def simulator(certs: QlikCerts) -> Iterator[Simulator]:
    specs = [
        SiteSpec("fine", license=SimulatedLicense(valid_to=[in_days(200)])),
        SiteSpec("soon", license=SimulatedLicense(valid_to=[in_days(30)])),
        SiteSpec("gone", license=SimulatedLicense(valid_to=[in_days(-3)])),
        # Answers after 20 s: only the run's deadline (-t) ends its check.
        SiteSpec("slow", fault="slow", slow_seconds=20),
    ]
    with run_simulator(specs, certs) as running:
        yield running


def licmon_config(tmp_path: Path, certs: QlikCerts, simulator: Simulator) -> Path:
    sites = site_entries(certs, simulator)
    sites.append(sites[0] | {"name": "down", "port": free_port()})  # nothing listens
    document = {
        "Butler": {"qlikSenseLicense": {"serverLicenseMonitor": {"alert": {"thresholdDays": 60}}}},
        "licmon": {"sites": sites, "timeouts": {"qrsConnect": 2, "qrsRead": 30}},
    }
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


# service -> the arguments after `licmon check --config FILE`
SERVICES = {
    "license-fine": "--site fine",
    "license-soon": "--site soon",
    "license-gone": "--site gone",
    "license-down": "--site down",
    "license-slow": "--site slow -t 3",
    "license-fine-w": "--site fine -w 365",
    "license-two": "--site fine --site soon",
}


def nagios_files(folder: Path, config: Path) -> Path:
    """nagios.cfg and its objects, every path inside `folder`."""
    (folder / "checkresults").mkdir()
    commands = "".join(
        f"define command {{\n  command_name {name}\n"
        f"  command_line {LICMON} check --config {config} {arguments}\n}}\n"
        for name, arguments in SERVICES.items()
    )
    services = "".join(
        f"define service {{\n  use licmon-service\n  host_name qlik\n"
        f"  service_description {name}\n  check_command {name}\n}}\n"
        for name in SERVICES
    )
    (folder / "objects.cfg").write_text(
        """define timeperiod {
  timeperiod_name always
  alias always
  sunday 00:00-24:00
  monday 00:00-24:00
  tuesday 00:00-24:00
  wednesday 00:00-24:00
  thursday 00:00-24:00
  friday 00:00-24:00
  saturday 00:00-24:00
}
define command {
  command_name nothing
  command_line /bin/true
}
define contact {
  contact_name nobody
  host_notifications_enabled 0
  service_notifications_enabled 0
  host_notification_period always
  service_notification_period always
  host_notification_options n
  service_notification_options n
  host_notification_commands nothing
  service_notification_commands nothing
}
define host {
  host_name qlik
  address 127.0.0.1
  check_command nothing
  max_check_attempts 1
  check_period always
  active_checks_enabled 0
  contacts nobody
  notification_period always
  notifications_enabled 0
}
define service {
  name licmon-service
  register 0
  max_check_attempts 1
  check_interval 3
  retry_interval 3
  check_period always
  notification_period always
  notifications_enabled 0
  contacts nobody
}
"""
        + commands
        + services
    )
    main = folder / "nagios.cfg"
    settings = {
        "cfg_file": folder / "objects.cfg",
        "log_file": folder / "nagios.log",
        "status_file": folder / "status.dat",
        "status_update_interval": 1,
        "check_result_path": folder / "checkresults",
        "lock_file": folder / "nagios.lock",
        "temp_file": folder / "nagios.tmp",
        "temp_path": folder,
        "object_cache_file": folder / "objects.cache",
        "precached_object_file": folder / "objects.precache",
        "state_retention_file": folder / "retention.dat",
        "retain_state_information": 0,
        "command_file": folder / "nagios.cmd",
        "check_external_commands": 0,
        "nagios_user": "root",
        "nagios_group": "root",
        # Intervals in seconds, every check at once at start, results read every second.
        "interval_length": 1,
        "service_inter_check_delay_method": "n",
        "max_service_check_spread": 1,
        "service_interleave_factor": 1,
        "check_result_reaper_frequency": 1,
        "service_check_timeout": 60,
        "enable_notifications": 0,
        "use_syslog": 0,
        "log_rotation_method": "n",
        "enable_flap_detection": 0,
        "process_performance_data": 0,
    }
    main.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    return main


def read_status(path: Path) -> dict[str, dict[str, str]]:
    """servicestatus blocks of status.dat by service description."""
    found: dict[str, dict[str, str]] = {}
    if not path.exists():
        return found
    block: dict[str, str] | None = None
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line == "servicestatus {":
            block = {}
        elif line == "}" and block is not None:
            found[block["service_description"]] = block
            block = None
        elif block is not None and "=" in line:
            key, _, value = line.partition("=")
            block[key] = value
    return found


@pytest.fixture(scope="module")
def recorded(
    nagios: str,
    tmp_path_factory: pytest.TempPathFactory,
    certs: QlikCerts,
    simulator: Simulator,
) -> Iterator[dict[str, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("nagios")
    main = nagios_files(folder, licmon_config(folder, certs, simulator))
    verified = subprocess.run([nagios, "-v", str(main)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    started = time.monotonic()
    process = subprocess.Popen(
        [nagios, str(main)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
    )
    try:
        status: dict[str, dict[str, str]] = {}
        while time.monotonic() - started < 90:
            status = read_status(folder / "status.dat")
            if len(status) == len(SERVICES) and all(
                block.get("has_been_checked") == "1" for block in status.values()
            ):
                break
            assert process.poll() is None, (folder / "nagios.log").read_text()
            time.sleep(0.5)
        else:
            pytest.fail(f"Nagios did not run every check in 90 s: {status}")
        print(f"\nnagios: every service checked {time.monotonic() - started:.1f} s after start")
        yield status
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def perfdata_entries(text: str) -> list[str]:
    """Perfdata as the guidelines' grammar splits it; every entry must parse."""
    entries = []
    rest = text.strip()
    while rest:
        match = PERF.match(rest)
        assert match, f"perfdata a scheduler cannot parse at {rest!r}"
        entries.append(match.group(0))
        rest = rest[match.end() :].lstrip(" ")
        assert not rest or text.strip().endswith(rest), rest
    return entries


def checked_by_hand(config_args: str, config: Path) -> str:
    """The same check run directly: what Nagios should have recorded, line for line."""
    return subprocess.run(
        [str(LICMON), "check", "--config", str(config), *config_args.split()],
        capture_output=True,
        text=True,
    ).stdout


@pytest.mark.parametrize(
    ("service", "state", "output", "perfdata"),
    [
        ("license-fine", 0, f"LICENSE OK - fine 200 days left ({in_days(200)}), 1 of 1 sites ok", ["fine=200;61:;0:"]),  # noqa: E501
        ("license-soon", 1, f"LICENSE WARNING - soon 30 days left ({in_days(30)}), 0 of 1 sites ok", ["soon=30;61:;0:"]),  # noqa: E501
        ("license-gone", 2, f"LICENSE CRITICAL - gone expired 3 days ago ({in_days(-3)}), 0 of 1 sites ok", ["gone=-3;61:;0:"]),  # noqa: E501
        ("license-down", 3, "LICENSE UNKNOWN - down unknown: ", ["down=U;61:;0:"]),
        ("license-slow", 3, "LICENSE UNKNOWN - no answer within 3 s from slow (0 of 1 sites answered)", []),  # noqa: E501
        ("license-fine-w", 1, f"LICENSE WARNING - fine 200 days left ({in_days(200)}), 0 of 1 sites ok", ["fine=200;366:;0:"]),  # noqa: E501
        ("license-two", 1, f"LICENSE WARNING - soon 30 days left ({in_days(30)}), 1 of 2 sites ok", ["fine=200;61:;0:", "soon=30;61:;0:"]),  # noqa: E501
    ],
)  # fmt: skip
def test_nagios_records_state_output_and_perfdata(
    recorded: dict[str, dict[str, str]],
    service: str,
    state: int,
    output: str,
    perfdata: list[str],
) -> None:
    block = recorded[service]
    assert int(block["current_state"]) == state, block
    assert block["plugin_output"].startswith(output), block["plugin_output"]
    assert perfdata_entries(block["performance_data"]) == perfdata
    # Every state but the deadline's has the table as long output, read back line for line.
    long = block["long_plugin_output"].split("\\n")
    if service == "license-slow":
        assert long == [""]
        # The deadline ended it, not Nagios (60 s) nor the QRS read timeout (30 s).
        assert float(block["check_execution_time"]) < 6, block
    else:
        assert long[0].split()[:2] == ["SITE", "STATUS"]
        shown = [line.split()[0] for line in long[1:]]
        assert shown == [
            name
            for name in ("fine", "soon", "gone", "down")
            if f"--site {name}" in SERVICES[service]
        ]


def test_nagios_recorded_what_the_command_prints(
    recorded: dict[str, dict[str, str]], tmp_path: Path, certs: QlikCerts, simulator: Simulator
) -> None:
    """Nothing lost between the plugin and the scheduler: the same output, split as Nagios
    splits it (first line before ` | `, perfdata after, the rest long output)."""
    config = licmon_config(tmp_path, certs, simulator)
    for service in ("license-soon", "license-two", "license-gone"):
        lines = checked_by_hand(SERVICES[service], config).rstrip("\n").split("\n")
        first, _, perfdata = lines[0].partition(" | ")
        block = recorded[service]
        assert block["plugin_output"] == first
        assert block["performance_data"] == perfdata
        assert block["long_plugin_output"] == "\\n".join(lines[1:])
