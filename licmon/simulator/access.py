"""The simulated ``GET /qrs/license/accesstypeoverview`` answer, in Qlik's documented shape.

A type set to None is disabled: Qlik still sends its object, with ``enabled: false`` and
zeros. The knobs give every shape the reader must cope with: professional and analyzer
seats (the default), tokens only, analyzer capacity only, any mix, and malformed answers
(``remove`` drops fields, ``change`` sets any field to any value, both by dotted path).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Seats:
    """Professional or analyzer seats. ``available`` defaults to what is left unallocated."""

    total: int = 100
    allocated: int = 60
    used: int = 50
    quarantined: int = 0
    excess: int = 0
    available: int | None = None

    def to_json(self, enabled: bool = True) -> dict[str, Any]:
        left = max(self.total - self.allocated - self.quarantined, 0)
        return {
            "enabled": enabled,
            "total": self.total,
            "allocated": self.allocated,
            "used": self.used,
            "quarantined": self.quarantined,
            "available": left if self.available is None else self.available,
            "excess": self.excess,
        }


@dataclass(frozen=True)
class Capacity:
    """Analyzer capacity, in minutes."""

    allocatedMinutes: float = 6000
    usedMinutes: float = 1200
    unavailableMinutes: float = 0

    def to_json(self, enabled: bool = True) -> dict[str, Any]:
        return {"enabled": enabled} | self.__dict__


@dataclass(frozen=True)
class LoginPasses:
    tokenCost: float = 0.1
    allocatedTokens: int = 100
    usedTokens: int = 40
    unavailableTokens: int = 0

    def to_json(self, enabled: bool = True) -> dict[str, Any]:
        return {"enabled": enabled} | self.__dict__


@dataclass(frozen=True)
class UserPasses:
    tokenCost: float = 1
    allocatedTokens: int = 50
    usedTokens: int = 20
    quarantinedTokens: int = 0

    def to_json(self, enabled: bool = True) -> dict[str, Any]:
        return {"enabled": enabled} | self.__dict__


@dataclass(frozen=True)
class Tokens:
    total: int = 1000
    available: int = 250


@dataclass
class SimulatedAccess:
    """What the simulated site's access types are; ``to_json()`` is the QRS answer."""

    professional: Seats | None = field(default_factory=Seats)
    analyzer: Seats | None = field(default_factory=lambda: Seats(200, 120, 100))
    capacity: Capacity | None = None
    login: LoginPasses | None = None
    user: UserPasses | None = None
    tokens: Tokens | None = None
    # Dotted paths to drop (``professionalAccess.available``) and to set to any value.
    remove: Sequence[str] = ()
    change: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def all_types(cls, **kwargs: Any) -> SimulatedAccess:
        parts: dict[str, Any] = {
            "capacity": Capacity(),
            "login": LoginPasses(),
            "user": UserPasses(),
            "tokens": Tokens(),
        }
        return cls(**(parts | kwargs))

    @classmethod
    def tokens_only(cls, **kwargs: Any) -> SimulatedAccess:
        parts: dict[str, Any] = {
            "professional": None,
            "analyzer": None,
            "login": LoginPasses(),
            "user": UserPasses(),
            "tokens": Tokens(),
        }
        return cls(**(parts | kwargs))

    @classmethod
    def capacity_only(cls, **kwargs: Any) -> SimulatedAccess:
        parts: dict[str, Any] = {"professional": None, "analyzer": None, "capacity": Capacity()}
        return cls(**(parts | kwargs))

    def to_json(self) -> dict[str, Any]:
        tokens = self.tokens or Tokens(0, 0)
        document: dict[str, Any] = {
            "schemaPath": "AccessTypeOverview",
            "totalTokens": tokens.total,
            "availableTokens": tokens.available,
            "tokensEnabled": self.tokens is not None,
            "professionalAccess": (self.professional or Seats(0, 0, 0)).to_json(
                self.professional is not None
            ),
            "analyzerAccess": (self.analyzer or Seats(0, 0, 0)).to_json(self.analyzer is not None),
            "analyzerTimeAccess": (self.capacity or Capacity(0, 0, 0)).to_json(
                self.capacity is not None
            ),
            "loginAccess": (self.login or LoginPasses(0, 0, 0, 0)).to_json(self.login is not None),
            "userAccess": (self.user or UserPasses(0, 0, 0, 0)).to_json(self.user is not None),
        }
        document = copy.deepcopy(document)
        for path in self.remove:
            *parents, last = path.split(".")
            _walk(document, parents).pop(last, None)
        for path, value in self.change.items():
            *parents, last = path.split(".")
            _walk(document, parents)[last] = value
        return document


def _walk(document: dict[str, Any], parents: list[str]) -> dict[str, Any]:
    for key in parents:
        document = document[key]
    return document
