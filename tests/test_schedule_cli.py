"""`licmon schedule`: occurrences, JSON, caret errors, and a Celery-free import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from licmon.cli.main import main

START = "2026-11-28T03:17:00Z"


def test_prints_next_occurrences(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "every 14 days", "--start", START]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2026-11-29T00:00:00Z",
        "2026-12-01T00:00:00Z",
        "2026-12-15T00:00:00Z",
        "2026-12-29T00:00:00Z",
        "2027-01-01T00:00:00Z",
    ]


def test_count_and_naive_start_is_utc(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "every 5 mins", "--start", "2026-11-28T03:17:00", "--count", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["2026-11-28T03:20:00Z", "2026-11-28T03:25:00Z"]


def test_start_with_offset_is_converted(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["schedule", "at 10:15 am", "--start", "2026-11-28T12:00:00+05:00", "--count", "1"])
        == 0
    )
    # 12:00+05:00 is 07:00Z, so 10:15Z the same day comes first.
    assert capsys.readouterr().out.strip() == "2026-11-28T10:15:00Z"


def test_default_start_is_now(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "every 1 second", "--count", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.endswith("Z") for line in lines)


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["schedule", "every weekday at 8:00 am", "--start", START, "--count", "2", "--json"])
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["parsed"] == {
        "schedules": [{"d": [2, 3, 4, 5, 6], "t": [28800]}],
        "exceptions": [],
        "error": -1,
    }
    assert document["occurrences"] == ["2026-11-30T08:00:00Z", "2026-12-01T08:00:00Z"]
    assert document["start"] == START
    assert document["text"] == "every weekday at 8:00 am"


def test_invalid_text_shows_caret_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "every 5 minutes starting on the 3rd hour"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == "every 5 minutes starting on the 3rd hour"
    assert lines[1] == " " * 36 + "^"
    assert "'minute'" in lines[2]


def test_trailing_space_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "every 24 hours "]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[1] == " " * 15 + "^"
    assert "trailing" in err


def test_unrunnable_schedule_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "every 5 mins also"]) == 2
    assert "cannot run" in capsys.readouterr().err


def test_no_further_occurrence_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", "in 2020", "--start", START]) == 0
    assert capsys.readouterr().out == ""
    assert main(["schedule", "in 2020", "--start", START, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["occurrences"] == []


@pytest.mark.parametrize("bad", [["--count", "0"], ["--count", "x"], ["--start", "yesterday"]])
def test_bad_options_are_usage_errors(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["schedule", "every 1 hour", *bad])
    assert exited.value.code == 2


def test_subprocess_entry_point() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "licmon.cli.main",
            "schedule",
            "every 24 hours",
            "--start",
            START,
            "--count",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "2026-11-29T00:00:00Z\n"


def test_module_does_not_import_celery() -> None:
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import licmon.cli.schedule"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in completed.stderr.splitlines()}
    assert "licmon.laterjs" in imported
    heavy = {
        name
        for name in imported
        if name.split(".")[0] in {"celery", "kombu", "requests", "pydantic"}
    }
    assert heavy == set()
