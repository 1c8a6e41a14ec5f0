"""Our line protocol encoder against influxdb-client's `Point`, on hostile names and values."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision

from licmon.senders.line_protocol import encode_line, epoch_seconds

pytestmark = pytest.mark.fast

AT = dt.datetime(2026, 11, 28, 10, 0, 5, 700_000, tzinfo=dt.UTC)
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
value = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), text, st.none())


def reference(measurement: str, tags: dict[str, str], fields: dict[str, object]) -> str:
    point = Point(measurement)
    for name, tag in tags.items():
        point.tag(name, tag)
    for name, field in fields.items():
        if field is not None:
            point.field(name, field)
    return point.time(epoch_seconds(AT), WritePrecision.S).to_line_protocol()


@pytest.mark.parametrize(
    ("measurement", "tags", "fields"),
    [
        ("qlik_sense_server_license", {"site": "prod"}, {"days_until_expiry": 30.0}),
        ("qlik sense,license", {"site name": "Prod, EU=1", "env": 'a"b\\c'}, {"x": 'say "hi"\\'}),
        ("m", {"trailing": "back\\", "empty": ""}, {"b": True, "i": 7, "f": 1.5, "n": None}),
        ("m\nline", {"t\tab": "v\r"}, {"inf": float("inf"), "ok": 2.0}),
        ("m", {}, {"only_none": None}),
    ],
)
def test_encodes_like_influxdb_client(measurement: str, tags: dict, fields: dict) -> None:
    assert encode_line(measurement, tags, fields, AT) == reference(measurement, tags, fields)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    measurement=text.filter(lambda name: name and not name.startswith("#")),
    tags=st.dictionaries(text, text, max_size=3),
    fields=st.dictionaries(text.filter(bool), value, max_size=4),
)
def test_encodes_like_influxdb_client_for_any_input(
    measurement: str, tags: dict[str, str], fields: dict[str, object]
) -> None:
    assert encode_line(measurement, tags, fields, AT) == reference(measurement, tags, fields)


def test_second_precision_from_aware_and_naive_ticks() -> None:
    assert encode_line("m", {}, {"f": 1.0}, AT).endswith(f" {int(AT.timestamp())}")
    assert encode_line("m", {}, {"f": 1.0}, AT.replace(tzinfo=None)).endswith(
        f" {int(AT.timestamp())}"
    )
