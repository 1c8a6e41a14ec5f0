"""Secrets from the environment, laid over the YAML document before it is validated.

A variable replaces one key of the file. The overlay remembers which key each variable
filled, so a bad value is reported under the variable's name, not a key the file lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Path = tuple[str | int, ...]


class EnvOverlay:
    def __init__(self, raw: dict[str, Any], env: Mapping[str, str]) -> None:
        self.raw = raw
        self.env = env
        self.variables: dict[Path, str] = {}

    def get(self, *path: str) -> Any:
        node: Any = self.raw
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    def set(self, value: Any, *path: str) -> bool:
        """Set the key at `path`, creating the sections above it that are missing or empty.

        A section the file gives as something else (`broker: "redis://..."`) is left as it
        is, and False returned: validation reports its shape, instead of the variable
        silently replacing it.
        """
        node = self.raw
        for key in path[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                return False
            node = child
        node[path[-1]] = value
        return True

    def put(self, variable: str, *path: str) -> bool:
        """Set the key at `path` from `variable`; False when the variable is not set."""
        value = self.env.get(variable)
        if not value or not self.set(value, *path):
            return False
        self.variables[path] = variable
        return True

    def put_each(self, prefix: str, list_path: Path, key: str) -> None:
        """`<prefix><N>` fills `key` of the N-th (from 1) entry of the list at `list_path`."""
        node: Any = self.raw
        for part in list_path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, list):
            return
        for index, entry in enumerate(node):
            variable = f"{prefix}{index + 1}"
            value = self.env.get(variable)
            if value and isinstance(entry, dict):
                entry[key] = value
                self.variables[(*list_path, index, key)] = variable
