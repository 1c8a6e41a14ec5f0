"""No `licmon` command exits 1 by accident (Nagios reads 1 as WARNING): an exception nobody
expected is one line on stderr and the command's own failure code, 3 for `check`, 2 for
`config validate`; its text, which may quote a secret, is not printed.

Before: a `.nan` timeout, a binary key, a 300-character host or a non-Latin-1 header made
`licmon check` exit 1 with a traceback. Those are refused at load time now
(test_config_values, test_certificates); this is the net under whatever is left, so the
exception is raised on purpose inside the real command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from licmon.cli.main import INTERNAL_ERROR_EXIT, main
from tests.hostile.support import dump, site_document

SECRET = "tok3n-in-an-exception"


@pytest.mark.parametrize(
    "error",
    [RecursionError(SECRET), MemoryError(), UnicodeEncodeError("latin-1", SECRET, 0, 1, "x")],
)
def test_check_exits_3_with_one_line(
    tmp_path: Path,
    certs: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
) -> None:
    import licmon.cli.check

    def explode(*args: object) -> list[object]:
        raise error

    monkeypatch.setattr(licmon.cli.check, "check_all", explode)
    code = main(["check", "--config", str(dump(tmp_path, site_document(certs)))])
    captured = capsys.readouterr()
    assert code == 3
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"licmon check: internal error ({type(error).__name__} at ")
    assert SECRET not in captured.err + captured.out
    assert "Traceback" not in captured.err


def test_config_validate_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import licmon.plugins

    def explode(*args: object, **kwargs: object) -> None:
        raise ValueError(SECRET)

    monkeypatch.setattr(licmon.plugins, "load_config", explode)
    assert main(["config", "validate", "--config", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("licmon config: internal error (ValueError at ")
    assert SECRET not in err


def test_verbose_adds_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import licmon.plugins

    def explode(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(licmon.plugins, "load_config", explode)
    assert main(["-v", "config", "validate", "--config", str(tmp_path / "x.yaml")]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_no_command_falls_back_to_1() -> None:
    assert 1 not in INTERNAL_ERROR_EXIT.values()
    assert INTERNAL_ERROR_EXIT["check"] == 3 and INTERNAL_ERROR_EXIT["config"] == 2
    assert INTERNAL_ERROR_EXIT["status"] == 3


@pytest.mark.parametrize("kind", [[], ["--access"], ["--kind", "certificate"]])
def test_status_exits_3_for_every_kind(
    tmp_path: Path,
    certs: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: list[str],
) -> None:
    """Before: 2 (Nagios CRITICAL, and with --access not even a code of `status`), seen with
    a non-integer failure count in a site's fleet hash (now read as malformed, see
    test_redis_contents); an error raised while the state is read stands for any other."""
    import licmon.cli.status

    monkeypatch.setattr(licmon.cli.status, "read_state", _raise)
    document = site_document(certs, certificates={"enable": True})
    document["Butler"]["qlikSenseLicense"]["licenseMonitor"] = {"enable": True}
    code = main(["status", *kind, "--config", str(dump(tmp_path, document))])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "licmon status: internal error (RuntimeError" in err and SECRET not in err


def test_exporter_exits_2(
    tmp_path: Path,
    certs: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
) -> None:
    import licmon.exporter.serve

    monkeypatch.setattr(licmon.exporter.serve, "serve", _raise)
    monkeypatch.setenv("LICMON_BROKER_URL", redis_url)
    code = main(["exporter", "--config", str(dump(tmp_path, site_document(certs)))])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "licmon exporter: internal error (RuntimeError" in err and SECRET not in err


def _raise(*args: object, **kwargs: object) -> None:
    raise RuntimeError(SECRET)


@pytest.mark.parametrize(
    ("argv", "module", "attribute", "code"),
    [
        (["schedule", "every 24 hours"], "licmon.cli.schedule", "next_occurrences", 2),
        (["deadletters"], "licmon.cli.deadletters", "load_or_report", 3),
        (["qrs-simulator", "--sites", "1"], "licmon.simulator.server", "start_simulator", 2),
    ],
    ids=["schedule", "deadletters", "qrs-simulator"],
)
def test_every_command_has_its_failure_code(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    module: str,
    attribute: str,
    code: int,
) -> None:
    import importlib

    monkeypatch.setattr(importlib.import_module(module), attribute, _raise)
    if argv[0] == "qrs-simulator":
        import signal

        argv = [*argv, "--cert-dir", str(tmp_path)]
        # It installs SIGINT/SIGTERM handlers: not in the test process.
        monkeypatch.setattr(signal, "signal", lambda *args: None)
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "internal error (RuntimeError" in err and SECRET not in err


def test_wrong_arguments_exit_2_and_interrupts_130(
    tmp_path: Path, certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "--no-such-option"])
    assert exited.value.code == 2
    import licmon.cli.check

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(licmon.cli.check, "check_all", interrupted)
    assert main(["check", "--config", str(dump(tmp_path, site_document(certs)))]) == 130


def test_deadletters_exit_codes(tmp_path: Path, certs: Path) -> None:
    from tests.hostile.support import licmon
    from tests.services import free_port

    bad = tmp_path / "bad.yaml"
    bad.write_text("licmon: {broker: {url: 7}}\n")
    licmon("deadletters", "--config", str(bad)).refused(2, "configuration error")
    good = str(dump(tmp_path, site_document(certs)))
    unreachable = {"LICMON_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    licmon("deadletters", "--config", good, env=unreachable).refused(3, "cannot read Redis")
    not_redis = {"LICMON_BROKER_URL": "sqla+sqlite:///x.sqlite"}
    licmon("deadletters", "--config", good, env=not_redis).refused(3, "not Redis")
