"""What the schema says about keys: which are secret.

It walks the pydantic section models the root is assembled from, so a destination's own
sections are covered the moment they are declared.
"""

from __future__ import annotations

import functools
import typing
from typing import Any

from pydantic import BaseModel, SecretStr

from licmon.config.errors import SECRET_KEYS


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """Section models an annotation holds (`X | None`, `list[X]`, `Annotated[X, ...]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for argument in typing.get_args(annotation):
        found += models_in(argument)
    return found


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(argument) for argument in typing.get_args(annotation))


@functools.cache
def secret_paths(model: type[BaseModel]) -> frozenset[str]:
    """Key paths (no list positions) of every secret field: a `SecretStr`, or a key named in
    `SECRET_KEYS` (a webhook URL is a plain string to the schema, a secret to us)."""
    found: set[str] = set()

    def walk(section: type[BaseModel], prefix: str, seen: tuple[type, ...]) -> None:
        for name, info in section.model_fields.items():
            path = f"{prefix}.{name}" if prefix else name
            if name in SECRET_KEYS or _mentions_secret(info.annotation):
                found.add(path)
                continue
            for sub in models_in(info.annotation):
                if sub not in seen:
                    walk(sub, path, (*seen, sub))

    walk(model, "", (model,))
    return frozenset(found)
