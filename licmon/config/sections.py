"""The building blocks of the YAML schema, shared by the root document, checks and destinations.

Attribute names are Butler's own camelCase keys so that a validation error's location is the
exact key path the administrator sees in the file. Keys we do not use are ignored, so a full
Butler production config loads unchanged. A YAML key left empty (`webhooks:`) means "use the
default", as it does for Butler. Every default of the service is written in a section, once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from licmon.config.fields import HeaderName, HeaderValue, Switch, TagKey, Text


class Section(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class NameValue(Section):
    # Only tags are name/value lists: InfluxDB refuses some keys (fields.TagKey).
    name: TagKey
    value: Text


class StaticList(Section):
    static: list[NameValue] = []


class Header(Section):
    """A static HTTP header: checked as one, since it is sent as it is."""

    name: HeaderName
    value: HeaderValue


class HeaderList(Section):
    static: list[Header] = []


class EnableSwitch(Section):
    enable: Switch = True


def pairs(items: list[NameValue] | list[Header]) -> tuple[tuple[str, str], ...]:
    return tuple((item.name, item.value) for item in items)


def merge_tags(*layers: list[NameValue]) -> tuple[tuple[str, str], ...]:
    """Later layers win on the same tag name, as Butler's feature tags win over global ones."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(pairs(layer))
    return tuple(merged.items())
