"""The access-license core: reading Qlik's answer, Butler's points, the MQTT document, low."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from licmon.core.access_license import (
    AccessStatus,
    Minimum,
    evaluate_access,
    failed_access,
    is_low,
    low_types,
)
from licmon.core.access_payloads import influx_points, licenses_document, status_document
from licmon.core.notices import InfluxPoint

pytestmark = pytest.mark.fast

AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def answer() -> dict[str, Any]:
    """Every type enabled, in Qlik's documented shape."""
    return {
        "schemaPath": "AccessTypeOverview",
        "totalTokens": 1000,
        "availableTokens": 250,
        "tokensEnabled": True,
        "professionalAccess": {
            "enabled": True,
            "total": 100,
            "allocated": 90,
            "used": 80,
            "quarantined": 2,
            "available": 8,
            "excess": 0,
        },
        "analyzerAccess": {
            "enabled": True,
            "total": 200,
            "allocated": 150,
            "used": 120,
            "quarantined": 5,
            "available": 45,
            "excess": 1,
        },
        "analyzerTimeAccess": {
            "enabled": True,
            "allocatedMinutes": 6000,
            "usedMinutes": 1234.5,
            "unavailableMinutes": 60,
        },
        "loginAccess": {
            "enabled": True,
            "tokenCost": 1,
            "allocatedTokens": 100,
            "usedTokens": 40,
            "unavailableTokens": 3,
        },
        "userAccess": {
            "enabled": True,
            "tokenCost": 1,
            "allocatedTokens": 50,
            "usedTokens": 20,
            "quarantinedTokens": 4,
        },
    }


FULL = {
    "professional": {
        "allocated": 90,
        "available": 8,
        "excess": 0,
        "quarantined": 2,
        "total": 100,
        "used": 80,
    },
    "analyzer": {
        "allocated": 150,
        "available": 45,
        "excess": 1,
        "quarantined": 5,
        "total": 200,
        "used": 120,
    },
    "analyzer_capacity": {
        "allocated_minutes": 6000,
        "unavailable_minutes": 60,
        "used_minutes": 1234.5,
    },
    "token_login": {
        "allocated_tokens": 100,
        "token_cost": 1,
        "unavailable_tokens": 3,
        "used_tokens": 40,
    },
    "token_user": {
        "allocated_tokens": 50,
        "quarantined_tokens": 4,
        "token_cost": 1,
        "used_tokens": 20,
    },
    "tokens_available": {"available_tokens": 250, "total_tokens": 1000},
}


def test_every_type_enabled_is_read_with_butlers_names() -> None:
    status = evaluate_access("prod", answer(), AT)
    assert status == AccessStatus("prod", "2026-03-01T08:00:00Z", FULL)
    assert list(status.licenses) == list(FULL)
    # Qlik's usedTokens, which Butler reads as userTokens and always misses.
    assert status.licenses["token_user"]["used_tokens"] == 20
    assert status.available("professional") == (8, 100)
    assert status.available("tokens_available") == (250, 1000)
    assert status.available("token_login") is None


def test_disabled_types_are_left_out_and_may_lack_their_numbers() -> None:
    data = answer()
    data["tokensEnabled"] = False
    del data["totalTokens"], data["availableTokens"]
    data["analyzerAccess"] = {"enabled": False}
    data["loginAccess"]["enabled"] = False
    status = evaluate_access("prod", data, AT)
    assert status.error is None
    assert list(status.licenses) == ["professional", "analyzer_capacity", "token_user"]
    assert status.available("analyzer") is None


def test_excess_is_optional_and_unknown_fields_are_ignored() -> None:
    data = answer()
    del data["professionalAccess"]["excess"]
    data["professionalAccess"]["somethingNew"] = {"x": 1}
    data["brandNewAccess"] = {"enabled": True}
    status = evaluate_access("prod", data, AT)
    assert status.error is None
    assert status.licenses["professional"] == {
        "allocated": 90,
        "available": 8,
        "quarantined": 2,
        "total": 100,
        "used": 80,
    }


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            lambda a: a.pop("professionalAccess"),
            "QRS access field 'professionalAccess' is missing",
        ),
        (
            lambda a: a.__setitem__("analyzerAccess", [1, 2]),
            "QRS access field 'analyzerAccess' should be an object, got [1, 2]",
        ),
        (
            lambda a: a["professionalAccess"].pop("available"),
            "QRS access field 'professionalAccess.available' is missing",
        ),
        (
            lambda a: a["professionalAccess"].__setitem__("total", "100"),
            "QRS access field 'professionalAccess.total' should be a number, got '100'",
        ),
        (
            lambda a: a["professionalAccess"].__setitem__("used", True),
            "QRS access field 'professionalAccess.used' should be a number, got True",
        ),
        (
            lambda a: a["analyzerTimeAccess"].__setitem__("usedMinutes", float("nan")),
            "QRS access field 'analyzerTimeAccess.usedMinutes' should be a number, got nan",
        ),
        (
            lambda a: a["loginAccess"].__setitem__("enabled", "yes"),
            "QRS access field 'loginAccess.enabled' should be true/false, got 'yes'",
        ),
        (
            lambda a: a["userAccess"].pop("enabled"),
            "QRS access field 'userAccess.enabled' is missing",
        ),
        (
            lambda a: a["userAccess"].pop("usedTokens"),
            "QRS access field 'userAccess.usedTokens' is missing",
        ),
        (lambda a: a.pop("tokensEnabled"), "QRS access field 'tokensEnabled' is missing"),
        (lambda a: a.pop("totalTokens"), "QRS access field 'totalTokens' is missing"),
        (
            lambda a: a.__setitem__("availableTokens", {"a": {"b": {"c": "d" * 100}}}),
            "QRS access field 'availableTokens' should be a number, got {'a': {'b': {...}}}",
        ),
        (
            # Disabled, but a number of the wrong type is still a wrong answer.
            lambda a: a["analyzerAccess"].update(enabled=False, total="lots"),
            "QRS access field 'analyzerAccess.total' should be a number, got 'lots'",
        ),
    ],
)
def test_a_malformed_answer_is_a_status_naming_the_field(change: Any, error: str) -> None:
    data = answer()
    change(data)
    status = evaluate_access("prod", data, AT)
    assert status == AccessStatus("prod", "2026-03-01T08:00:00Z", {}, error)


@pytest.mark.parametrize("data", [[], "text", None, 42])
def test_an_answer_that_is_no_object_is_a_status(data: Any) -> None:
    status = evaluate_access("prod", data, AT)
    assert status.error == "QRS access answer is not an object" and status.licenses == {}


def test_a_quoted_value_is_short_and_printable() -> None:
    data = answer()
    data["professionalAccess"]["total"] = "\x1b[31m" + "9" * 500
    error = evaluate_access("prod", data, AT).error
    assert error is not None and "\x1b" not in error and len(error) < 160


def test_json_round_trip() -> None:
    status = evaluate_access("prod", answer(), AT)
    again = AccessStatus.from_json(json.loads(json.dumps(status.to_json())))
    assert again == status
    failed = failed_access("prod", AT, "HTTP 503")
    assert AccessStatus.from_json(json.loads(json.dumps(failed.to_json()))) == failed


def test_influx_points_are_butlers_with_float_fields() -> None:
    status = evaluate_access("prod", answer(), AT)
    points = influx_points(status, (("env", "prod"), ("site", "ignored")), AT)
    assert [p.tags["license_type"] for p in points] == list(FULL)
    assert points[0] == InfluxPoint(
        "qlik_sense_license",
        {"env": "prod", "site": "prod", "license_type": "professional"},
        {
            "allocated": 90.0,
            "available": 8.0,
            "excess": 0.0,
            "quarantined": 2.0,
            "total": 100.0,
            "used": 80.0,
        },
        AT,
    )
    assert points[-1].fields == {"available_tokens": 250.0, "total_tokens": 1000.0}
    assert all(type(v) is float for p in points for v in p.fields.values())
    assert influx_points(failed_access("prod", AT, "down"), (), AT) == []


def test_mqtt_document_has_the_same_numbers() -> None:
    status = evaluate_access("prod", answer(), AT)
    assert status_document(status, "prod@x") == {"site": "prod", **FULL} | {
        "checkedAt": "2026-03-01T08:00:00Z",
        "checkId": "prod@x",
    }
    failed = failed_access("prod", AT, "HTTP 503")
    assert licenses_document(failed) == {"site": "prod", "error": "HTTP 503"}


def test_low_at_or_below_either_bound() -> None:
    status = evaluate_access("prod", answer(), AT)  # professional 8/100, analyzer 45/200
    assert is_low(status, "professional", Minimum(min_available=8))
    assert not is_low(status, "professional", Minimum(min_available=7))
    assert is_low(status, "professional", Minimum(min_available_percent=8))
    assert not is_low(status, "professional", Minimum(min_available_percent=7.9))
    # Either bound: the higher floor wins.
    assert is_low(status, "analyzer", Minimum(min_available=1, min_available_percent=22.5))
    assert not is_low(status, "analyzer", Minimum())
    assert is_low(status, "tokens_available", Minimum(min_available_percent=25))
    assert not is_low(status, "token_login", Minimum(min_available=1000))
    minimums = {
        "professional": Minimum(min_available=10),
        "analyzer": Minimum(min_available=10),
        "tokens_available": Minimum(min_available=250),
    }
    assert low_types(status, minimums) == ["professional", "tokens_available"]
    data = copy.deepcopy(answer())
    data["professionalAccess"]["enabled"] = False
    assert low_types(evaluate_access("prod", data, AT), minimums) == ["tokens_available"]
    assert low_types(failed_access("prod", AT, "x"), minimums) == []
