"""InfluxDB writers against the session's real InfluxDB 1.6, and a 2.x API bridge in front of it."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from licmon.senders.errors import PermanentDeliveryError, TransientDeliveryError
from licmon.senders.influxdb import InfluxSettings, build_line, make_influx_writer, write_point
from tests.http_receiver import HttpReceiver, run_receiver
from tests.influx_v2_bridge import V2Bridge, run_bridge
from tests.services import InfluxServer, free_port

MEASUREMENT = "qlik_sense_server_license"
TOKEN = "v2-t0ken-xyz"


def influx_settings(**options: Any) -> InfluxSettings:
    """Settings with the config schema's defaults, as `licmon.destinations.influxdb` builds them."""
    return InfluxSettings(**({"timeout": 10.0, "database": "butler"} | options))


def tick(offset_seconds: int = 0) -> dt.datetime:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return now - dt.timedelta(seconds=offset_seconds)


def fields(days: float | None = 30.0, expired: bool = False) -> dict[str, object]:
    return {"license_expired": expired, "expiry_date": "2026-12-28", "days_until_expiry": days}


def v1(influx: InfluxServer, **kwargs: object) -> InfluxSettings:
    options: dict[str, object] = {"version": 1, "url": influx.url, "database": "butler"}
    options.update(kwargs)
    return influx_settings(**options)  # type: ignore[arg-type]


def rows(influx: InfluxServer, db: str, rp: str | None = None) -> list[dict[str, object]]:
    source = f'"{rp}"."{MEASUREMENT}"' if rp else f'"{MEASUREMENT}"'
    result = influx.query(f"SELECT * FROM {source}", db=db)["results"][0]
    series = result.get("series", [])
    if not series:
        return []
    columns = series[0]["columns"]
    return [dict(zip(columns, values, strict=True)) for values in series[0]["values"]]


def field_types(influx: InfluxServer, db: str) -> dict[str, str]:
    result = influx.query(f'SHOW FIELD KEYS FROM "{MEASUREMENT}"', db=db)["results"][0]
    return {name: kind for name, kind in result["series"][0]["values"]}


def iso(timestamp: dt.datetime) -> str:
    return timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- line building ------------------------------------------------------------------------------


def test_line_omits_none_and_writes_days_as_float() -> None:
    at = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)
    line = build_line(MEASUREMENT, {"foo": "bar"}, fields(30.0), at)
    assert line == (
        'qlik_sense_server_license,foo=bar days_until_expiry=30,expiry_date="2026-12-28",'
        f"license_expired=false {int(at.timestamp())}"
    )
    assert "days_until_expiry" not in build_line(MEASUREMENT, {}, fields(None), at)
    assert build_line(MEASUREMENT, {}, {"x": None}, at) == ""


def test_line_timestamp_is_exact_whole_seconds() -> None:
    # Float nanoseconds would round some of these down by a second.
    for seconds in (1_795_000_000, 1_795_000_001, 2_000_000_003, 1_799_999_999):
        at = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=999_999)
        assert build_line("m", {}, {"f": 1.0}, at).endswith(f" {seconds}")
    naive = dt.datetime(2026, 1, 1, 0, 0, 0)
    assert build_line("m", {}, {"f": 1.0}, naive).endswith(" 1767225600")


# --- 1.x ---------------------------------------------------------------------------------------


def test_v1_creates_database_and_policy_and_writes_typed_fields(influx: InfluxServer) -> None:
    settings = v1(influx, retention_policy="10d", retention_duration="10d")
    at = tick()
    writer = make_influx_writer(settings)
    try:
        write_point(writer, MEASUREMENT, {"foo": "bar", "site": "prod"}, fields(30.0), at)
    finally:
        writer.close()

    policies = influx.query('SHOW RETENTION POLICIES ON "butler"')["results"][0]["series"][0]
    by_name = {
        row[0]: dict(zip(policies["columns"], row, strict=True)) for row in policies["values"]
    }
    assert by_name["10d"]["duration"] == "240h0m0s"
    assert by_name["10d"]["default"] is True
    assert rows(influx, "butler", "10d") == [
        {
            "time": iso(at),
            "days_until_expiry": 30,
            "expiry_date": "2026-12-28",
            "foo": "bar",
            "license_expired": False,
            "site": "prod",
        }
    ]
    assert field_types(influx, "butler") == {
        "days_until_expiry": "float",
        "expiry_date": "string",
        "license_expired": "boolean",
    }


def test_v1_redelivery_overwrites_the_same_point(influx: InfluxServer) -> None:
    writer = make_influx_writer(v1(influx, database="licmon_redeliver"))
    at, earlier = tick(), tick(3600)  # once: a second may pass before the rows are read
    try:
        write_point(writer, MEASUREMENT, {"site": "a"}, fields(30.0), at)
        write_point(writer, MEASUREMENT, {"site": "a"}, fields(30.0), at)  # a redelivered task
        write_point(writer, MEASUREMENT, {"site": "a"}, fields(29.5), at)
        write_point(writer, MEASUREMENT, {"site": "a"}, fields(29.0), earlier)  # an earlier tick
    finally:
        writer.close()
    found = rows(influx, "licmon_redeliver")
    assert [(r["time"], r["days_until_expiry"]) for r in found] == [
        (iso(earlier), 29),
        (iso(at), 29.5),
    ]


def test_v1_perpetual_license_none_is_left_out(influx: InfluxServer) -> None:
    writer = make_influx_writer(v1(influx))
    try:
        write_point(writer, MEASUREMENT, {}, fields(None), tick())
        write_point(writer, MEASUREMENT, {}, fields(12.0), tick(60))
    finally:
        writer.close()
    found = rows(influx, "butler")
    assert [r["days_until_expiry"] for r in found] == [12, None]
    assert field_types(influx, "butler")["days_until_expiry"] == "float"


def test_v1_escapes_awkward_names_and_values(influx: InfluxServer) -> None:
    writer = make_influx_writer(v1(influx, database="lic-mon db.x"))
    tags = {"site name": "Prod, EU=1", "env": 'a"b\\c'}
    values = {"expiry_date": 'say "hi", ok\\', "license_expired": True}
    try:
        write_point(writer, "qlik sense,license", tags, values, tick())
    finally:
        writer.close()
    result = influx.query('SELECT * FROM "qlik sense,license"', db="lic-mon db.x")
    series = result["results"][0]["series"][0]
    row = dict(zip(series["columns"], series["values"][0], strict=True))
    assert row["site name"] == "Prod, EU=1"
    assert row["env"] == 'a"b\\c'
    assert row["expiry_date"] == 'say "hi", ok\\'
    assert row["license_expired"] is True


def test_v1_nothing_to_write_is_permanent(influx: InfluxServer) -> None:
    writer = make_influx_writer(v1(influx))
    with pytest.raises(PermanentDeliveryError, match="no field has a value"):
        write_point(writer, MEASUREMENT, {"a": "b"}, {"days_until_expiry": None}, tick())
    writer.close()


def test_v1_existing_identical_policy_is_fine(influx: InfluxServer) -> None:
    influx.query('CREATE DATABASE "butler"')
    influx.query('CREATE RETENTION POLICY "10d" ON "butler" DURATION 10d REPLICATION 1 DEFAULT')
    writer = make_influx_writer(v1(influx, retention_policy="10d", retention_duration="10d"))
    write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()
    assert len(rows(influx, "butler", "10d")) == 1


def test_v1_existing_policy_with_other_settings_is_written_into_as_it_is(
    influx: InfluxServer, caplog: pytest.LogCaptureFixture
) -> None:
    influx.query('CREATE DATABASE "butler"')
    influx.query('CREATE RETENTION POLICY "10d" ON "butler" DURATION 30d REPLICATION 1')
    writer = make_influx_writer(v1(influx, retention_policy="10d", retention_duration="10d"))
    with caplog.at_level(logging.INFO, logger="licmon.senders.influxdb"):
        write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()
    # The database and policy exist: the write goes straight in, nothing is (re)created.
    assert caplog.text == ""
    policies = influx.query('SHOW RETENTION POLICIES ON "butler"')["results"][0]["series"][0]
    assert ["10d", "720h0m0s"] in [row[:2] for row in policies["values"]]
    assert len(rows(influx, "butler", "10d")) == 1


def test_v1_database_is_created_once_per_deployment_not_per_process(
    influx: InfluxServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = v1(influx, database="licmon_once", retention_policy="5d", retention_duration="5d")
    # Two writers stand for two worker processes of one deployment.
    first, second = make_influx_writer(settings), make_influx_writer(settings)
    try:
        with caplog.at_level(logging.INFO, logger="licmon.senders.influxdb"):
            write_point(first, MEASUREMENT, {}, fields(), tick())
        assert "database not found" in caplog.text and "creating it" in caplog.text
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="licmon.senders.influxdb"):
            write_point(second, MEASUREMENT, {}, fields(), tick(60))
        assert caplog.text == ""  # the second process's first write creates nothing
    finally:
        first.close()
        second.close()
    assert len(rows(influx, "licmon_once", "5d")) == 2


def test_v1_dropped_database_is_recreated(influx: InfluxServer) -> None:
    settings = v1(influx, database="licmon_drop", retention_policy="7d", retention_duration="7d")
    writer = make_influx_writer(settings)
    try:
        write_point(writer, MEASUREMENT, {}, fields(30.0), tick(10))
        influx.query('DROP DATABASE "licmon_drop"')
        write_point(writer, MEASUREMENT, {}, fields(29.0), tick())
        assert [r["days_until_expiry"] for r in rows(influx, "licmon_drop", "7d")] == [29]
        # Dropping the policy drops its points too; the managed policy comes back.
        influx.query('DROP RETENTION POLICY "7d" ON "licmon_drop"')
        write_point(writer, MEASUREMENT, {}, fields(28.0), tick(5))
    finally:
        writer.close()
    assert [r["days_until_expiry"] for r in rows(influx, "licmon_drop", "7d")] == [28]


def test_v1_field_type_conflict_is_permanent_with_influx_text(influx: InfluxServer) -> None:
    writer = make_influx_writer(v1(influx))
    write_point(writer, MEASUREMENT, {}, fields(30.0), tick(10))
    with pytest.raises(PermanentDeliveryError) as info:
        write_point(writer, MEASUREMENT, {}, {"days_until_expiry": 30}, tick())  # an int: "30i"
    writer.close()
    assert info.value.destination == "influxdb"
    assert "HTTP 400" in str(info.value)
    assert "field type conflict" in str(info.value)


def test_v1_outage_is_transient_and_the_writer_recovers(influx: InfluxServer) -> None:
    writer = make_influx_writer(v1(influx, timeout=2.0))
    try:
        write_point(writer, MEASUREMENT, {}, fields(30.0), tick(20))
        influx.stop()
        try:
            with pytest.raises(TransientDeliveryError) as info:
                write_point(writer, MEASUREMENT, {}, fields(29.0), tick(10))
            assert "connection refused" in str(info.value)
        finally:
            influx.start()
        write_point(writer, MEASUREMENT, {}, fields(28.0), tick())
    finally:
        writer.close()
    assert [r["days_until_expiry"] for r in rows(influx, "butler")] == [30, 28]


def test_v1_outage_before_the_first_write_is_transient() -> None:
    settings = influx_settings(version=1, url=f"http://127.0.0.1:{free_port()}", timeout=1.0)
    writer = make_influx_writer(settings)
    with pytest.raises(TransientDeliveryError, match="connection refused"):
        write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from run_receiver()


def test_v1_bad_credentials_are_permanent_and_secret(receiver: HttpReceiver) -> None:
    receiver.on("/write", status=401)
    settings = influx_settings(
        version=1, url=receiver.url(""), username="admin", password=SecretStr("pa55word")
    )
    writer = make_influx_writer(settings)
    with pytest.raises(PermanentDeliveryError) as info:
        write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()
    assert "HTTP 401" in str(info.value)
    assert "pa55word" not in str(info.value) and "pa55word" not in repr(info.value)
    assert receiver.received("/write")[0].headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize(("status", "transient"), [(503, True), (400, False), (403, False)])
def test_v1_write_status_classification(
    receiver: HttpReceiver, status: int, transient: bool
) -> None:
    receiver.on("/write", status=status)
    writer = make_influx_writer(influx_settings(version=1, url=receiver.url("")))
    with pytest.raises(TransientDeliveryError if transient else PermanentDeliveryError):
        write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()
    (write,) = receiver.received("/write")
    assert dict(write.params) == {"db": "butler", "precision": "s"}


def test_v1_hanging_server_times_out_as_transient(receiver: HttpReceiver) -> None:
    receiver.on("/write", hang=True)
    writer = make_influx_writer(influx_settings(version=1, url=receiver.url(""), timeout=0.5))
    with pytest.raises(TransientDeliveryError, match=r"no answer within 0.5 s"):
        write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()


# --- 2.x and 3.x through the bridge ---------------------------------------------------------


@pytest.fixture
def bridge(influx: InfluxServer) -> Iterator[V2Bridge]:
    yield from run_bridge(influx.url, TOKEN)


def v2(bridge: V2Bridge, **kwargs: object) -> InfluxSettings:
    options: dict[str, object] = {
        "version": 2,
        "url": bridge.url,
        "org": "qlik",
        "bucket": "licmon_v2",
        "token": SecretStr(TOKEN),
        "timeout": 3.0,
    }
    options.update(kwargs)
    return influx_settings(**options)  # type: ignore[arg-type]


def test_v2_writes_through_the_2x_api(influx: InfluxServer, bridge: V2Bridge) -> None:
    influx.query('CREATE DATABASE "licmon_v2"')
    at, earlier = tick(), tick(60)  # once: a second may pass before the rows are read
    writer = make_influx_writer(v2(bridge))
    try:
        write_point(writer, MEASUREMENT, {"foo": "bar"}, fields(30.0), at)
        write_point(writer, MEASUREMENT, {"foo": "bar"}, fields(30.0), at)  # redelivery
        write_point(writer, MEASUREMENT, {"foo": "bar"}, fields(None), earlier)
    finally:
        writer.close()
    assert [(w["org"], w["bucket"], w["precision"]) for w in bridge.writes] == [
        ("qlik", "licmon_v2", "s")
    ] * 3
    found = rows(influx, "licmon_v2")
    assert [(r["time"], r["days_until_expiry"]) for r in found] == [
        (iso(earlier), None),
        (iso(at), 30),
    ]
    assert field_types(influx, "licmon_v2")["days_until_expiry"] == "float"


def test_v3_uses_the_database_as_bucket(influx: InfluxServer, bridge: V2Bridge) -> None:
    influx.query('CREATE DATABASE "licmon_v3"')
    settings = influx_settings(
        version=3, url=bridge.url, database="licmon_v3", token=SecretStr(TOKEN), timeout=3.0
    )
    writer = make_influx_writer(settings)
    write_point(writer, MEASUREMENT, {}, fields(7.0), tick())
    writer.close()
    assert bridge.writes[0]["bucket"] == "licmon_v3"
    assert [r["days_until_expiry"] for r in rows(influx, "licmon_v3")] == [7]


def test_v2_bad_token_is_permanent_and_secret(bridge: V2Bridge) -> None:
    writer = make_influx_writer(v2(bridge, token=SecretStr("wrong-t0ken")))
    with pytest.raises(PermanentDeliveryError) as info:
        write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()
    text = str(info.value)
    assert "HTTP 401" in text and "unauthorized access" in text
    assert "wrong-t0ken" not in text and TOKEN not in text


def test_v2_missing_bucket_is_permanent(bridge: V2Bridge) -> None:
    writer = make_influx_writer(v2(bridge, bucket="no_such_bucket"))
    with pytest.raises(PermanentDeliveryError, match='bucket "no_such_bucket" not found'):
        write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()


@pytest.mark.parametrize(("status", "transient"), [(503, True), (429, True), (400, False)])
def test_v2_status_classification(bridge: V2Bridge, status: int, transient: bool) -> None:
    bridge.force_status = status
    writer = make_influx_writer(v2(bridge))
    with pytest.raises(TransientDeliveryError if transient else PermanentDeliveryError) as info:
        write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()
    assert f"HTTP {status}" in str(info.value)
    assert len(bridge.writes) == 1  # one attempt: no retries inside the sender


def test_v2_unreachable_is_transient() -> None:
    settings = influx_settings(
        version=2,
        url=f"http://127.0.0.1:{free_port()}",
        org="o",
        bucket="b",
        token=SecretStr(TOKEN),
        timeout=1.0,
    )
    writer = make_influx_writer(settings)
    with pytest.raises(TransientDeliveryError) as info:
        write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()
    assert TOKEN not in str(info.value)


def test_v2_hanging_server_times_out_as_transient(receiver: HttpReceiver) -> None:
    receiver.on("/api/v2/write", hang=True)
    settings = influx_settings(
        version=2, url=receiver.url(""), org="o", bucket="b", token=SecretStr(TOKEN), timeout=0.5
    )
    writer = make_influx_writer(settings)
    with pytest.raises(TransientDeliveryError, match=r"no answer within 0.5 s"):
        write_point(writer, MEASUREMENT, {}, fields(), tick())
    writer.close()


def test_v2_without_org_or_bucket_is_a_permanent_configuration_error() -> None:
    with pytest.raises(PermanentDeliveryError, match="needs an org and a bucket"):
        make_influx_writer(influx_settings(version=2, url="http://127.0.0.1:1", token=None))
    with pytest.raises(PermanentDeliveryError, match="unsupported InfluxDB version 4"):
        make_influx_writer(influx_settings(version=4, url="http://127.0.0.1:1"))


# --- fork safety (Celery prefork) ----------------------------------------------------------------


def _write_in_child(writer: object, days: float, at: dt.datetime) -> bytes:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report through the pipe, never return into pytest
        outcome = b"?"
        try:
            write_point(writer, MEASUREMENT, {}, fields(days), at)  # type: ignore[attr-defined]
            outcome = b"ok"
        except BaseException as exc:
            outcome = repr(exc).encode()[:500]
        finally:
            os.write(write_end, outcome)
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    outcome = os.read(read_end, 1000)
    os.close(read_end)
    return outcome


def test_v1_writer_survives_a_fork(influx: InfluxServer) -> None:
    writer = make_influx_writer(v1(influx))
    try:
        write_point(writer, MEASUREMENT, {}, fields(30.0), tick(20))
        parent_session = writer._session  # type: ignore[attr-defined]
        assert _write_in_child(writer, 29.0, tick(10)) == b"ok"
        assert writer._session is parent_session  # type: ignore[attr-defined]
        write_point(writer, MEASUREMENT, {}, fields(28.0), tick())
    finally:
        writer.close()
    assert [r["days_until_expiry"] for r in rows(influx, "butler")] == [30, 29, 28]


def test_v2_writer_survives_a_fork(influx: InfluxServer, bridge: V2Bridge) -> None:
    influx.query('CREATE DATABASE "licmon_v2"')
    writer = make_influx_writer(v2(bridge))
    try:
        write_point(writer, MEASUREMENT, {}, fields(30.0), tick(20))
        assert _write_in_child(writer, 29.0, tick(10)) == b"ok"
        write_point(writer, MEASUREMENT, {}, fields(28.0), tick())
    finally:
        writer.close()
    assert [r["days_until_expiry"] for r in rows(influx, "licmon_v2")] == [30, 29, 28]
