"""Reading expiry dates in every format the QRS is known to write."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from licmon.core import dates
from licmon.core.dates import DateOrder, UnreadableDate, parse_license_date

pytestmark = pytest.mark.fast

MONTH, DAY = DateOrder.MONTH_FIRST, DateOrder.DAY_FIRST


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        # Qlik's documented format, and the same with an afternoon time.
        ("2024-03-16 12:00:00 AM", MONTH, date(2024, 3, 16)),
        ("2024-03-16 11:59:59 PM", MONTH, date(2024, 3, 16)),
        ("2024-03-16 12:00:00 PM", DAY, date(2024, 3, 16)),
        # en-US culture.
        ("3/16/2024 12:00:00 AM", MONTH, date(2024, 3, 16)),
        ("3/16/2024 12:00:00 AM", DAY, date(2024, 3, 16)),  # 16 cannot be a month
        ("03/16/2024", MONTH, date(2024, 3, 16)),
        # de-DE culture: dots are always day-first.
        ("16.03.2024 00:00:00", MONTH, date(2024, 3, 16)),
        ("03.04.2025 00:00:00", MONTH, date(2025, 4, 3)),
        ("03.04.2025", DAY, date(2025, 4, 3)),
        # ISO 8601, with and without zone; zones are converted to UTC first.
        ("2024-03-16T00:00:00Z", MONTH, date(2024, 3, 16)),
        ("2024-03-16T00:00:00.000Z", MONTH, date(2024, 3, 16)),
        ("2024-03-16T23:30:00-02:00", MONTH, date(2024, 3, 17)),
        ("2024-03-16T00:30:00+01:00", MONTH, date(2024, 3, 15)),
        ("2024-03-16T12:00:00", MONTH, date(2024, 3, 16)),
        # A bare date.
        ("2024-03-16", MONTH, date(2024, 3, 16)),
        ("2024-3-6", MONTH, date(2024, 3, 6)),
        # The ambiguous case follows the configured rule.
        ("03/04/2025", MONTH, date(2025, 3, 4)),
        ("03/04/2025", DAY, date(2025, 4, 3)),
        ("03/04/2025 12:00:00 AM", DAY, date(2025, 4, 3)),
        ("16/03/2024", MONTH, date(2024, 3, 16)),  # unambiguous despite the rule
        ("16/03/2024 00:00:00", DAY, date(2024, 3, 16)),
        ("  2024-03-16  ", MONTH, date(2024, 3, 16)),
    ],
)
def test_reads_every_known_format(text: str, order: DateOrder, expected: date) -> None:
    assert parse_license_date(text, order) == expected


@pytest.mark.parametrize("text", ["", "   ", "never", "2024-02-30", "13/13/2024", "2024-13-01"])
def test_refuses_what_is_not_a_date(text: str) -> None:
    with pytest.raises(UnreadableDate):
        parse_license_date(text)


# Qlik's own shapes skip dateutil (licmon.core.dates._qlik_shape_date); they must read as
# dateutil reads them, and what dateutil refuses must still be refused.
_SHAPES = st.builds(
    "{:04d}-{:02d}-{:02d}{}".format,
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.one_of(
        st.just(""),
        st.builds(
            " {}:{:02d}:{:02d} {}".format,
            st.integers(0, 13),
            st.integers(0, 60),
            st.integers(0, 60),
            st.sampled_from(["AM", "PM"]),
        ),
        st.builds(
            "{}{:02d}:{:02d}:{:02d}{}".format,
            st.sampled_from(["T", " "]),
            st.integers(0, 24),
            st.integers(0, 60),
            st.integers(0, 60),
            st.sampled_from(["", "Z"]),
        ),
    ),
)


def _through_dateutil(text: str, order: DateOrder) -> date | str:
    try:
        return dates.read_with_dateutil(text, order)
    except UnreadableDate:
        return "unreadable"


def _as_read(text: str, order: DateOrder) -> date | str:
    try:
        return parse_license_date(text, order)
    except UnreadableDate:
        return "unreadable"


@settings(max_examples=400, deadline=None)
@given(text=_SHAPES, order=st.sampled_from(list(DateOrder)))
def test_qlik_shapes_read_as_dateutil_reads_them(text: str, order: DateOrder) -> None:
    assert _as_read(text, order) == _through_dateutil(text, order)


def test_qlik_shapes_skip_dateutil() -> None:
    for text in ("2024-03-16", "2024-03-16 12:00:00 AM", "2024-03-16T00:00:00Z"):
        assert dates._qlik_shape_date(text) == date(2024, 3, 16)
