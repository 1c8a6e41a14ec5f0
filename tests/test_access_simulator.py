"""The simulator's access types and the QRS client reading them over mutual TLS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from licmon.core.access_license import evaluate_access
from licmon.qrs import QrsClient
from licmon.qrs.errors import QrsAuthError, QrsBadResponseError, QrsHttpError, QrsServerError
from licmon.simulator import (
    Capacity,
    MisfitCerts,
    QlikCerts,
    Seats,
    SimulatedAccess,
    Simulator,
    SiteSpec,
    Tokens,
    run_simulator,
)
from tests.qrs_support import endpoint_for, raw_get, session_certs

PATH = "/qrs/license/accesstypeoverview"
AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[QlikCerts, MisfitCerts]:
    return session_certs(tmp_path_factory, loopback=True)


@pytest.fixture(scope="module")
def sim(certs: tuple[QlikCerts, MisfitCerts]) -> Iterator[Simulator]:
    with run_simulator([SiteSpec("a")], certs[0]) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator, certs: tuple[QlikCerts, MisfitCerts]) -> Iterator[QrsClient]:
    site = sim.sites["a"]
    site.access, site.fault = SimulatedAccess(), "none"
    with QrsClient(endpoint_for(site, certs[0])) as qrs:
        yield qrs


def test_default_shape_is_seats_with_every_object_present() -> None:
    document = SimulatedAccess().to_json()
    assert document["tokensEnabled"] is False
    assert document["professionalAccess"] == {
        "enabled": True,
        "total": 100,
        "allocated": 60,
        "used": 50,
        "quarantined": 0,
        "available": 40,
        "excess": 0,
    }
    assert document["analyzerTimeAccess"] == {
        "enabled": False,
        "allocatedMinutes": 0,
        "usedMinutes": 0,
        "unavailableMinutes": 0,
    }
    assert document["loginAccess"]["enabled"] is False
    assert document["userAccess"]["enabled"] is False


def test_served_over_mutual_tls_with_the_xrfkey_check(
    sim: Simulator, certs: tuple[QlikCerts, MisfitCerts]
) -> None:
    site = sim.sites["a"]
    site.access, site.fault = SimulatedAccess.all_types(), "none"
    answer = raw_get(site, certs[0], PATH)
    assert answer.status_code == 200 and answer.json() == site.access.to_json()
    assert raw_get(site, certs[0], PATH, header_key=None).status_code == 403


@pytest.mark.parametrize(
    ("access", "types"),
    [
        (
            SimulatedAccess.all_types(),
            [
                "professional",
                "analyzer",
                "analyzer_capacity",
                "token_login",
                "token_user",
                "tokens_available",
            ],
        ),
        (SimulatedAccess.tokens_only(), ["token_login", "token_user", "tokens_available"]),
        (SimulatedAccess.capacity_only(), ["analyzer_capacity"]),
        (SimulatedAccess(analyzer=None), ["professional"]),
    ],
)
def test_client_reads_each_shape(
    client: QrsClient, sim: Simulator, access: SimulatedAccess, types: list[str]
) -> None:
    sim.sites["a"].access = access
    status = evaluate_access("a", client.get_access_overview(), AT)
    assert status.error is None
    assert list(status.licenses) == types


def test_client_reads_the_numbers_set(client: QrsClient, sim: Simulator) -> None:
    sim.sites["a"].access = SimulatedAccess(
        professional=Seats(total=20, allocated=18, used=17, quarantined=1, excess=2),
        analyzer=None,
        capacity=Capacity(3000, 2999.5, 10),
        tokens=Tokens(total=500, available=7),
    )
    status = evaluate_access("a", client.get_access_overview(), AT)
    assert status.licenses == {
        "professional": {
            "allocated": 18,
            "available": 1,
            "excess": 2,
            "quarantined": 1,
            "total": 20,
            "used": 17,
        },
        "analyzer_capacity": {
            "allocated_minutes": 3000,
            "unavailable_minutes": 10,
            "used_minutes": 2999.5,
        },
        "tokens_available": {"available_tokens": 7, "total_tokens": 500},
    }


@pytest.mark.parametrize(
    ("access", "error"),
    [
        (
            SimulatedAccess(remove=("professionalAccess.used",)),
            "QRS access field 'professionalAccess.used' is missing",
        ),
        (
            SimulatedAccess(change={"analyzerAccess.available": "12"}),
            "QRS access field 'analyzerAccess.available' should be a number, got '12'",
        ),
        (
            SimulatedAccess(remove=("userAccess",)),
            "QRS access field 'userAccess' is missing",
        ),
        (
            SimulatedAccess(change={"tokensEnabled": 1}),
            "QRS access field 'tokensEnabled' should be true/false, got 1",
        ),
    ],
)
def test_malformed_answers_are_named(
    client: QrsClient, sim: Simulator, access: SimulatedAccess, error: str
) -> None:
    sim.sites["a"].access = access
    status = evaluate_access("a", client.get_access_overview(), AT)
    assert (status.error, status.licenses) == (error, {})


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        ("503", QrsServerError, "GET /qrs/license/accesstypeoverview answered 503"),
        ("403", QrsAuthError, "answered 403"),
        ("404", QrsHttpError, "answered 404"),
        ("malformed", QrsBadResponseError, "not valid JSON"),
        ("non-object", QrsBadResponseError, "answered a JSON str, expected an object"),
    ],
)
def test_faults_are_the_client_error_family(
    client: QrsClient, sim: Simulator, fault: str, error: type[Exception], text: str
) -> None:
    sim.sites["a"].fault = fault
    with pytest.raises(error, match=text):
        client.get_access_overview()
