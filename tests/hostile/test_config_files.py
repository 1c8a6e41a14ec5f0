"""Config files that are not what they claim: huge, endless, blocking, exploding.

Before: a 50 MB file took 190 s and 3.4 GB; 8 levels of YAML aliases 10 s, 1.25 GB and
312 MB of output, 9 levels were killed at 2.7 GB; /dev/zero died with MemoryError (exit 1);
a FIFO hung. Each is now refused by name, within a second and the memory of a plain run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from licmon.config import reading
from tests.hostile.support import EXIT_CHECK, EXIT_CONFIG_VALIDATE, both, licmon, write


def refused_by_both(path: Path, *phrases: str, case: str = "") -> None:
    validate, check = both(path, case=case)
    validate.refused(EXIT_CONFIG_VALIDATE, "configuration error", *phrases)
    check.refused(EXIT_CHECK, "configuration error", *phrases)


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as file:
        file.write("Butler:\n  unrelated:\n")
        # Written a megabyte at a time: the test process itself stays small (children's
        # peak memory is measured, and some measures count the parent's at fork time).
        chunk = ("    - " + "x" * 90 + "\n") * (1024 * 1024 // 97)
        for _ in range(50):
            file.write(chunk)
    refused_by_both(path, "larger than 1024 KiB", case="50 MB file")


def test_a_file_just_under_the_cap_loads(tmp_path: Path) -> None:
    # A big Butler file with a large section we ignore still loads, and quickly.
    lines = ["Butler:", "  qlikSenseLicense: {serverLicenseMonitor: {enable: false}}", "  big:"]
    lines += [f"    key{i}: {'v' * 60}" for i in range(12_000)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert path.stat().st_size < reading.MAX_BYTES
    run = licmon("config", "validate", "--config", str(path), case="1 MB Butler file").bounded()
    assert run.code == 0 and run.out == "OK\n"


@pytest.mark.timeout(60)
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    refused_by_both(path, "is a FIFO, not a regular file", case="FIFO")


def test_dev_zero_is_refused() -> None:
    refused_by_both(Path("/dev/zero"), "is a device, not a regular file", case="/dev/zero")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    refused_by_both(tmp_path, "is a directory, not a config file", case="directory")


def laughs(levels: int) -> str:
    # The bomb goes where a value is validated and echoed: walking or printing it is what
    # expands it (a few hundred bytes of YAML, 9**levels strings).
    lines = ["Butler:", "  unused:", "    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"    l{level}: &l{level} [{refs}]")
    lines.append(
        f"  qlikSenseLicense: {{serverLicenseMonitor: {{alert: {{thresholdDays: *l{levels}}}}}}}"
    )
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [8, 9])
def test_billion_laughs_is_refused_before_it_expands(tmp_path: Path, levels: int) -> None:
    path = write(tmp_path, laughs(levels))
    refused_by_both(path, "YAML aliases expand to more than", case=f"billion laughs, {levels}")


def test_a_few_shared_blocks_still_load(tmp_path: Path) -> None:
    # Anchors and aliases are legitimate YAML: small reuse is not refused.
    path = write(
        tmp_path,
        """\
        Butler:
          qlikSenseLicense: {serverLicenseMonitor: {enable: false}}
          shared: &tags {static: [{name: env, value: prod}]}
          influxDb: {tag: *tags}
        """,
    )
    assert licmon("config", "validate", "--config", str(path)).bounded().code == 0


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Butler:\n  qlikSenseLicense: {serverLicenseMonitor: {alert: {thresholdDays: &a [*a]}}}\n",
    )
    refused_by_both(path, "refers to its own anchor", case="recursive alias")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Butler:\n  deep: " + "[" * 500 + "]" * 500 + "\n")
    refused_by_both(path, "nested deeper than 64 levels", case="500 nested lists")


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Butler:\n  x: !!python/object/apply:os.system [echo pwned]\n")
    refused_by_both(path, "YAML syntax error", "could not determine a constructor")


@pytest.mark.parametrize(
    ("value", "reason"),
    [("2024-13-45", "month must be in 1..12"), ("9" * 5000, "ValueError")],
    ids=["impossible date", "5000-digit integer"],
)
def test_scalars_yaml_cannot_build_are_named(tmp_path: Path, value: str, reason: str) -> None:
    path = write(tmp_path, f"Butler:\n  configQRS:\n    host: {value}\n")
    refused_by_both(path, "a value cannot be read", reason)


def test_binary_and_non_utf8_files(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"Butler:\n  x: \xff\xfe\x00\x01\n")
    refused_by_both(path, "not UTF-8 text")


def test_thousands_of_problems_are_counted_not_all_printed(tmp_path: Path) -> None:
    keys = "\n".join(f"  unknown{i}: 1" for i in range(5000))
    path = write(tmp_path, f"licmon:\n{keys}\n")
    validate = licmon("config", "validate", "--config", str(path)).refused(
        EXIT_CONFIG_VALIDATE, "5000 problems", "... and 4900 more"
    )
    assert validate.err.count("\n") < 110


def test_libyaml_safe_loader_is_used() -> None:
    assert getattr(yaml, "__with_libyaml__", False), "PyYAML without libyaml on this machine"
    assert reading._Loader is yaml.CSafeLoader
