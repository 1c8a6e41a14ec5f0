"""What the schema says about keys: which are secret, which keys of ours are unknown, and
whether every secret is clean text.

Each walks the pydantic section models the root is assembled from, so a destination's own
`licmon` section (`licmon.mqtt`, `licmon.apprise`) is covered the moment it is declared.
"""

from __future__ import annotations

import difflib
import functools
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, SecretStr

from licmon.config.errors import SECRET_KEYS, Problems, clean_key, has_controls


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


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(_is_list(argument) for argument in typing.get_args(annotation))


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


def check_unknown_keys(raw: Any, model: type[BaseModel], root: str, problems: Problems) -> None:
    """Report every key under `raw[root]` that the schema does not know, at any depth, with
    the closest known key. Only for our own section: Butler's files carry many sections and
    keys we do not read, and must load unchanged."""
    if not isinstance(raw, dict) or root not in model.model_fields:
        return
    for section in models_in(model.model_fields[root].annotation)[:1]:
        _walk(raw.get(root), section, root, problems)


def _walk(value: Any, section: type[BaseModel], path: str, problems: Problems) -> None:
    if not isinstance(value, dict):
        return  # a wrong shape is the schema's problem to report
    fields = section.model_fields
    for key, child in value.items():
        if not isinstance(key, str) or key not in fields:
            problems.add(f"{path}.{clean_key(key)}", _unknown(str(key), sorted(fields)))
            continue
        annotation = fields[key].annotation
        subsections = models_in(annotation)
        if not subsections or child is None:
            continue
        if isinstance(child, list) and _is_list(annotation):
            for index, item in enumerate(child):
                _walk(item, subsections[0], f"{path}.{key}[{index}]", problems)
        else:
            _walk(child, subsections[0], f"{path}.{key}", problems)


def _unknown(key: str, known: list[str]) -> str:
    # Comparing costs the product of the lengths: a megabyte-long key gets no suggestion.
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6) if len(key) <= 100 else []
    if not close:
        # Case slips (`ThresholdDays`) are the commonest typo of all.
        close = [name for name in known if name.lower() == key.lower()][:1]
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return "unknown key; known keys here: " + ", ".join(known)


def check_secret_text(
    raw: Any,
    model: type[BaseModel],
    problems: Problems,
    variables: dict[tuple[Any, ...], str],
) -> None:
    """Every value of a `SecretStr` field, whatever validator its destination gave it: no
    control characters (a newline pasted after a token fails later in the HTTP library,
    whose error quotes the header, token included). Reported by key path, or by the
    environment variable it came from; a key the schema already refused is not repeated."""
    reported = {problem.path for problem in problems.problems}
    for location, value in _secret_values(raw, model, ()):
        path = variables.get(location) or _path(location)
        if isinstance(value, str) and has_controls(value) and path not in reported:
            problems.add(
                path,
                "expected a secret without control characters (a line break, tab or escape; "
                "often a newline pasted at the end of a secret)",
            )


def _secret_values(
    value: Any, section: type[BaseModel], location: tuple[Any, ...]
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if not isinstance(value, dict):
        return
    for key, info in section.model_fields.items():
        if key not in value or value[key] is None:
            continue
        child, here = value[key], (*location, key)
        if _mentions_secret(info.annotation):
            if isinstance(child, list):
                yield from (((*here, index), item) for index, item in enumerate(child))
            else:
                yield here, child
            continue
        subsections = models_in(info.annotation)
        if not subsections:
            continue
        if isinstance(child, list) and _is_list(info.annotation):
            for index, item in enumerate(child):
                yield from _secret_values(item, subsections[0], (*here, index))
        else:
            yield from _secret_values(child, subsections[0], here)


def _path(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
