"""The fleet's keys: `licmon.sites[].zone`, `licmon.beat.leaseSeconds`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from licmon.config import ConfigError, load_config


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, str]:
    for name in ("client.pem", "client_key.pem"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n")
    return {
        "clientCert": str(tmp_path / "client.pem"),
        "clientCertKey": str(tmp_path / "client_key.pem"),
    }


def site(name: str, certs: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"name": name, "host": f"{name}.example.com", "cert": certs, **more}


def load(tmp_path: Path, licmon: dict[str, Any]) -> Any:
    path = tmp_path / "licmon.yaml"
    path.write_text(yaml.safe_dump({"licmon": licmon}))
    return load_config(path, env={})


def problems(tmp_path: Path, licmon: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, licmon)
    return [str(problem) for problem in caught.value.problems]


def test_a_site_may_name_a_zone(tmp_path: Path, certs: dict[str, str]) -> None:
    config = load(
        tmp_path,
        {
            "sites": [
                site("a", certs, zone="dc-east.1"),
                site("b", certs, zone=42),  # YAML's number, still a name
                site("c", certs),
            ]
        },
    )
    assert [s.zone for s in config.sites] == ["dc-east.1", "42", None]
    assert config.beat.lease_seconds == 15


@pytest.mark.parametrize("zone", ["dc east", "a,b", ".hidden", "-x", "x" * 64, "zone/1", True])
def test_a_zone_that_cannot_name_a_queue_is_refused(
    tmp_path: Path, certs: dict[str, str], zone: object
) -> None:
    (problem,) = problems(tmp_path, {"sites": [site("a", certs, zone=zone)]})
    assert problem.startswith(
        "licmon.sites[0].zone: expected a zone name of letters, digits, '.', '_' or '-' "
        "(at most 63), got "
    ), problem


def test_lease_seconds(tmp_path: Path, certs: dict[str, str]) -> None:
    sites = [site("a", certs)]
    assert load(tmp_path, {"sites": sites, "beat": {"leaseSeconds": 3}}).beat.lease_seconds == 3
    for bad in (2.5, 301, "soon", True):
        assert problems(tmp_path, {"sites": sites, "beat": {"leaseSeconds": bad}}) == [
            f"licmon.beat.leaseSeconds: expected a number of seconds from 3 to 300, got {bad!r}"
        ]
