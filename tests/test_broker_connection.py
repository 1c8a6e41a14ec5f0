"""`licmon.broker`'s TLS and Sentinel keys, and what `licmon.redis_connect` builds from them
(Celery's options, our own clients), without a socket: the real libraries are asked what
they would connect to. The connections themselves: tests/test_broker_tls.py and
tests/faults/test_sentinel_failover.py."""

from __future__ import annotations

import shutil
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import trustme
import yaml

from licmon import redis_connect
from licmon.config import ConfigError
from licmon.plugins import load_config
from licmon.simulator import ensure_qlik_certs
from worker.settings import celery_settings

pytestmark = pytest.mark.fast

PASSWORD = "s3cr3t-Sentinel-pw"


@pytest.fixture(scope="session")
def qlik_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_qlik_certs(tmp_path_factory.mktemp("qlik-certs")).directory


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a client certificate of it, an expired one, and another CA."""
    root = tmp_path_factory.mktemp("broker-pki")
    ca, other = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    other.cert_pem.write_to_path(str(root / "other-ca.pem"))
    client = ca.issue_cert("worker@licmon")
    client.cert_chain_pems[0].write_to_path(str(root / "client.pem"))
    client.private_key_pem.write_to_path(str(root / "client.key"))
    soon = ca.issue_cert("soon@licmon", not_after=datetime.now(UTC) + timedelta(days=9, hours=12))
    soon.cert_chain_pems[0].write_to_path(str(root / "soon.pem"))
    soon.private_key_pem.write_to_path(str(root / "soon.key"))
    past = datetime.now(UTC) - timedelta(days=10)
    expired = ca.issue_cert("old@licmon", not_before=past - timedelta(days=30), not_after=past)
    expired.cert_chain_pems[0].write_to_path(str(root / "expired.pem"))
    expired.private_key_pem.write_to_path(str(root / "expired.key"))
    return {p.name: p for p in root.iterdir()}


@pytest.fixture
def certs(tmp_path: Path, qlik_certs: Path) -> dict[str, str]:
    for name in ("client.pem", "client_key.pem"):
        shutil.copy(qlik_certs / name, tmp_path / name)
    return {
        "clientCert": str(tmp_path / "client.pem"),
        "clientCertKey": str(tmp_path / "client_key.pem"),
    }


def load(tmp_path: Path, broker: dict[str, Any], sites: list[Any] | None = None) -> Any:
    path = tmp_path / "licmon.yaml"
    document: dict[str, Any] = {"broker": broker}
    if sites:
        document["sites"] = sites
    path.write_text(yaml.safe_dump({"licmon": document}))
    return load_config(path, env={})


def problems(tmp_path: Path, broker: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, broker)
    report = caught.value.report()
    assert PASSWORD not in report and "hunter2" not in report
    return [str(problem) for problem in caught.value.problems]


def test_rediss_verifies_the_broker_with_the_ca_file_for_broker_and_backend(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    config = load(
        tmp_path,
        {
            "url": "rediss://:hunter2@redis.example.com:6380/0",
            "resultBackend": "rediss://:hunter2@redis.example.com:6380/1",
            "tls": {
                "caFile": str(pki["ca.pem"]),
                "certFile": str(pki["client.pem"]),
                "keyFile": str(pki["client.key"]),
            },
        },
    )
    expected = {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": str(pki["ca.pem"]),
        "ssl_certfile": str(pki["client.pem"]),
        "ssl_keyfile": str(pki["client.key"]),
    }
    settings = celery_settings(config)
    assert settings["broker_use_ssl"] == expected
    assert settings["redis_backend_use_ssl"] == expected
    # Our own client: redis-py's SSL connection with the same files.
    client = redis_connect.client(config.broker)
    kwargs = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class is redis.SSLConnection
    assert kwargs["ssl_ca_certs"] == str(pki["ca.pem"])
    assert kwargs["ssl_certfile"] == str(pki["client.pem"])
    assert kwargs["ssl_cert_reqs"] == ssl.CERT_REQUIRED


def test_rediss_without_a_ca_file_still_verifies_against_the_system(tmp_path: Path) -> None:
    config = load(tmp_path, {"url": "rediss://redis.example.com:6380/0"})
    settings = celery_settings(config)
    assert settings["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert "redis_backend_use_ssl" not in settings  # the backend is the default redis://


def test_the_urls_tls_parameters_move_onto_the_keys(tmp_path: Path, pki: dict[str, Path]) -> None:
    config = load(
        tmp_path,
        {
            "url": f"rediss://:hunter2@redis.example.com:6380/0?ssl_cert_reqs=required"
            f"&ssl_ca_certs={pki['ca.pem']}&health_check_interval=5",
            "resultBackend": f"rediss://redis.example.com:6380/1?ssl_cert_reqs=CERT_REQUIRED"
            f"&ssl_ca_certs={pki['ca.pem']}",
        },
    )
    assert config.broker.tls is not None and config.broker.tls.ca_file == pki["ca.pem"]
    assert config.broker.url.get_secret_value() == (
        "rediss://:hunter2@redis.example.com:6380/0?health_check_interval=5"
    )
    assert config.broker.result_backend.get_secret_value() == "rediss://redis.example.com:6380/1"
    assert celery_settings(config)["broker_use_ssl"]["ssl_ca_certs"] == str(pki["ca.pem"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ssl_cert_reqs=none", "would stop verifying the broker's certificate"),
        ("ssl_cert_reqs=optional", "would stop verifying the broker's certificate"),
        ("ssl_check_hostname=false", "the TLS parameter 'ssl_check_hostname' is not supported"),
        ("ssl_password=hunter2", "the TLS parameter 'ssl_password' is not supported"),
    ],
)
def test_a_tls_parameter_that_cannot_be_honoured_is_refused(
    tmp_path: Path, query: str, expected: str
) -> None:
    (problem,) = problems(tmp_path, {"url": f"rediss://:hunter2@redis.example.com/0?{query}"})
    assert problem.startswith("licmon.broker.url: "), problem
    assert expected in problem


def test_tls_parameters_on_a_plain_url_are_refused(tmp_path: Path, pki: dict[str, Path]) -> None:
    (problem,) = problems(
        tmp_path, {"url": f"redis://:hunter2@redis.example.com/0?ssl_ca_certs={pki['ca.pem']}"}
    )
    assert "TLS parameter 'ssl_ca_certs' on a plain-text URL: use rediss://" in problem


def test_tls_files_with_plain_redis_urls_are_refused(tmp_path: Path, pki: dict[str, Path]) -> None:
    (problem,) = problems(
        tmp_path, {"url": "redis://127.0.0.1/0", "tls": {"caFile": str(pki["ca.pem"])}}
    )
    assert problem.startswith("licmon.broker.tls: is set but neither"), problem


def test_a_url_and_a_key_naming_different_cas_are_refused(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    found = problems(
        tmp_path,
        {
            "url": f"rediss://redis.example.com/0?ssl_ca_certs={pki['ca.pem']}",
            "tls": {"caFile": str(pki["other-ca.pem"])},
        },
    )
    assert found == [
        "licmon.broker.tls.caFile: differs from the URL's ssl_ca_certs in licmon.broker.url "
        "(ssl_ca_certs): give it once"
    ]


def test_an_expired_client_certificate_stops_the_start_naming_the_file(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    (problem,) = problems(
        tmp_path,
        {
            "url": "rediss://redis.example.com/0",
            "tls": {"certFile": str(pki["expired.pem"]), "keyFile": str(pki["expired.key"])},
        },
    )
    assert problem.startswith(
        f"licmon.broker.tls.certFile: broker client certificate file '{pki['expired.pem']}' "
        "has expired (not after "
    ), problem


@pytest.mark.parametrize(
    ("tls", "expected"),
    [
        (
            {"caFile": "missing.pem"},
            "licmon.broker.tls.caFile: broker CA file '{root}/missing.pem' does not exist",
        ),
        ({"certFile": "{client.pem}"}, "licmon.broker.tls.keyFile: required with"),
        (
            {"certFile": "{client.pem}", "keyFile": "{expired.key}"},
            "licmon.broker.tls.keyFile: broker client key file '{expired.key}' does not match",
        ),
    ],
)
def test_unusable_tls_files_are_named(
    tmp_path: Path, pki: dict[str, Path], tls: dict[str, str], expected: str
) -> None:
    names = {name: str(path) for name, path in pki.items()} | {"root": str(tmp_path)}

    def filled(text: str) -> str:
        for name, value in names.items():
            text = text.replace("{" + name + "}", value)
        return text

    given = {key: filled(value) for key, value in tls.items()}
    (problem,) = problems(tmp_path, {"url": "rediss://redis.example.com/0", "tls": given})
    assert problem.startswith(filled(expected)), problem


def sentinel_url(password: str = "hunter2") -> str:
    return (
        f"sentinel://:{password}@10.0.0.1:26379/0;sentinel://:{password}@10.0.0.2:26379/0;"
        f"sentinel://:{password}@10.0.0.3:26380/0"
    )


def test_sentinel_follows_the_master_for_broker_backend_and_our_clients(tmp_path: Path) -> None:
    path = tmp_path / "licmon.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "licmon": {
                    "broker": {
                        "url": sentinel_url(),
                        "resultBackend": sentinel_url().replace("/0", "/1"),
                        "sentinel": {"masterName": "licmon"},
                    }
                }
            }
        )
    )
    config = load_config(path, env={"LICMON_BROKER_SENTINEL_PASSWORD": PASSWORD})
    settings = celery_settings(config)
    transport = settings["broker_transport_options"]
    assert transport["master_name"] == "licmon"
    assert transport["sentinel_kwargs"]["password"] == PASSWORD
    assert transport["visibility_timeout"] == 600  # kept beside the Sentinel options
    backend = settings["result_backend_transport_options"]
    assert backend["master_name"] == "licmon"
    assert backend["sentinel_kwargs"]["password"] == PASSWORD
    assert "broker_use_ssl" not in settings
    # Our client asks the three sentinels for the master, with the nodes' password and db.
    client = redis_connect.client(config.broker)
    pool = client.connection_pool
    assert pool.service_name == "licmon"
    assert [
        (c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
        for c in pool.sentinel_manager.sentinels
    ] == [("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26380)]
    assert pool.connection_kwargs["password"] == "hunter2"
    assert pool.connection_kwargs["db"] == 0
    place = redis_connect.where(config.broker)
    assert place == (
        "master 'licmon' of the sentinels 10.0.0.1:26379, 10.0.0.2:26379, 10.0.0.3:26380"
    )
    assert "hunter2" not in repr(config.broker) and PASSWORD not in repr(config.broker)
    # What Flower and `celery inspect conf` show of the settings is censored by Celery,
    # nested transport options included.
    from celery.app.utils import filter_hidden_settings

    shown = repr(filter_hidden_settings(settings))
    assert PASSWORD not in shown and "hunter2" not in shown
    # The backend's URL keeps its password in the first part, where Celery reads it.
    assert settings["result_backend"] == (
        "sentinel://:hunter2@10.0.0.1:26379/1;sentinel://10.0.0.2:26379/1;"
        "sentinel://10.0.0.3:26380/1"
    )
    from celery import Celery

    app = Celery("probe", set_as_current=False)
    app.conf.update(settings)
    params = app.backend.connparams
    assert type(app.backend).__name__ == "SentinelBackend"
    assert params["password"] == "hunter2" and params["db"] == 1
    assert [(h["host"], h["port"]) for h in params["hosts"]][:2] == [
        ("10.0.0.1", 26379),
        ("10.0.0.2", 26379),
    ]


def test_sentinel_over_tls_uses_the_files_for_sentinels_and_nodes(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    config = load(
        tmp_path,
        {
            "url": sentinel_url(),
            "sentinel": {"masterName": "licmon"},
            "tls": {"caFile": str(pki["ca.pem"])},
        },
    )
    settings = celery_settings(config)
    assert settings["broker_use_ssl"]["ssl_ca_certs"] == str(pki["ca.pem"])
    sentinel_kwargs = settings["broker_transport_options"]["sentinel_kwargs"]
    assert sentinel_kwargs["ssl"] is True and sentinel_kwargs["ssl_ca_certs"] == str(pki["ca.pem"])
    client = redis_connect.client(config.broker)
    assert client.connection_pool.connection_kwargs["ssl_ca_certs"] == str(pki["ca.pem"])


def test_a_sentinel_url_needs_a_master_name(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, {"url": sentinel_url()})
    assert problem.startswith("licmon.broker.sentinel.masterName: required with a sentinel://")


def test_sentinel_keys_without_a_sentinel_url_are_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path, {"url": "redis://127.0.0.1/0", "sentinel": {"masterName": "m", "password": "x"}}
    )
    assert [problem.split(":", 1)[0] for problem in found] == [
        "licmon.broker.sentinel.masterName",
        "licmon.broker.sentinel.password",
    ]


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("redis://:hunter2@redis.dc1.example.com:6379/0", "redis.dc1.example.com"),
        ("redis://10.1.2.3:6379/0", "10.1.2.3"),
        ("redis://redis:6379/0", None),  # the compose network's service name
        ("redis://127.0.0.1:6379/0", None),
        ("redis://[::1]:6379/0", None),
        ("rediss://redis.dc1.example.com:6380/0", None),
    ],
)
def test_a_zone_worker_on_plain_text_across_networks_is_warned(
    tmp_path: Path, certs: dict[str, str], url: str, warned: str | None
) -> None:
    sites = [{"name": "a", "host": "a.example.com", "cert": certs, "zone": "east"}]
    config = load(tmp_path, {"url": url, "resultBackend": url.replace("/0", "/1")}, sites)
    found = [w for w in config.warnings if "zone workers" in w]
    if warned is None:
        assert found == []
    else:
        assert len(found) == 2 and all(f"without TLS to {warned}," in w for w in found), found
        assert all("hunter2" not in w for w in config.warnings)


def test_no_warning_without_zones(tmp_path: Path, certs: dict[str, str]) -> None:
    sites = [{"name": "a", "host": "a.example.com", "cert": certs}]
    config = load(tmp_path, {"url": "redis://redis.dc1.example.com:6379/0"}, sites)
    assert not [w for w in config.warnings if "zone workers" in w]


def test_a_certificate_failure_names_the_file_to_fix(tmp_path: Path, pki: dict[str, Path]) -> None:
    config = load(tmp_path, {"url": "rediss://r/0", "tls": {"caFile": str(pki["ca.pem"])}})
    failure = ssl.SSLCertVerificationError(1, "certificate verify failed")
    failure.verify_message = "unable to get local issuer certificate"
    wrapped = redis.ConnectionError("Error 1 connecting to r:6379.")
    wrapped.__cause__ = failure
    problem = redis_connect.tls_problem(wrapped, config.broker)
    assert problem == (
        f"the broker's certificate is not trusted by the CA file '{pki['ca.pem']}' "
        "(licmon.broker.tls.caFile): certificate verify failed (unable to get local issuer "
        "certificate)"
    )
    mismatch = ssl.SSLCertVerificationError(1, "certificate verify failed")
    mismatch.verify_message = "IP address mismatch, certificate is not valid for '10.0.0.9'."
    problem = redis_connect.tls_problem(mismatch, config.broker)
    assert problem is not None
    assert problem.startswith("the broker's certificate does not name the host"), problem
    # Redis being down is not a certificate problem: retried, not fatal.
    assert (
        redis_connect.tls_problem(redis.ConnectionError("Connection refused"), config.broker)
        is None
    )


def test_the_other_schemes_are_not_redis() -> None:
    assert [redis_connect.is_redis(u) for u in ("sqla+sqlite:///x", "memory://", "amqp://h")] == [
        False,
        False,
        False,
    ]
    assert all(
        redis_connect.is_redis(u)
        for u in ("redis://h", "rediss://h", "unix:///s", "sentinel://h:26379")
    )


def test_a_connection_closed_after_the_handshake_names_the_client_certificate(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    """TLS 1.3: a Redis with `tls-auth-clients yes` refuses a missing or unknown client
    certificate by closing the connection; the client reads an EOF."""
    closed = redis.ConnectionError(
        "Error 8 while writing to socket. EOF occurred in violation of protocol (_ssl.c:2427)."
    )
    without = load(tmp_path, {"url": "rediss://r/0", "tls": {"caFile": str(pki["ca.pem"])}})
    problem = redis_connect.tls_problem(closed, without.broker)
    assert problem is not None
    assert problem.startswith(
        "the broker closed the TLS connection after the handshake: it asks for a client "
        "certificate (set licmon.broker.tls.certFile and keyFile)"
    ), problem
    with_cert = load(
        tmp_path,
        {
            "url": "rediss://r/0",
            "tls": {"certFile": str(pki["client.pem"]), "keyFile": str(pki["client.key"])},
        },
    )
    problem = redis_connect.tls_problem(closed, with_cert.broker)
    assert problem is not None
    assert f"does not accept the client certificate '{pki['client.pem']}'" in problem


def test_a_client_certificate_expiring_soon_is_warned_about(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    tls = {"certFile": str(pki["soon.pem"]), "keyFile": str(pki["soon.key"])}
    config = load(tmp_path, {"url": "rediss://r/0", "tls": tls})
    (warning,) = config.warnings
    assert warning.startswith(
        f"licmon.broker.tls.certFile: the broker client certificate '{pki['soon.pem']}' expires on "
    ), warning
    assert "(in 9 days)" in warning
    tls = {"certFile": str(pki["client.pem"]), "keyFile": str(pki["client.key"])}
    assert load(tmp_path, {"url": "rediss://r/0", "tls": tls}).warnings == ()


def test_config_validate_warns_about_a_zone_worker_in_clear_text(
    tmp_path: Path, certs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from licmon.cli.main import main

    path = tmp_path / "licmon.yaml"
    site = {"name": "a", "host": "a.example.com", "cert": certs, "zone": "dc-east"}
    path.write_text(yaml.safe_dump({"licmon": {"sites": [site]}}))
    environment = {"LICMON_BROKER_URL": "redis://:hunter2@redis.central.example.com:6379/0"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        assert main(["config", "validate", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "OK\n"
    assert (
        "warning: licmon.broker.url is redis:// without TLS to redis.central.example.com, and "
        "some sites are checked by zone workers"
    ) in captured.err
    assert "hunter2" not in captured.err
