"""Reading a deposited FHIR body whatever its JSON holds: every resource in it, every coding,
every extension, and elements by path, each with where it was found.

A body is caller-chosen JSON: any member may hold any JSON type. Nothing here assumes a type
it has not checked, so a malformed body reads as one with less in it, never as an error. Paths
are FHIRPath-like with our own indices (`Bundle.entry[2].resource.code.coding[0]`) and name
only FHIR element names or indices, never a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

RESOURCE_TYPE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Found:
    """A resource inside the body: where it is, and whether it sits in another's `contained`."""

    path: str
    resource: dict
    contained: bool = False

    @property
    def type(self) -> str:
        return resource_type(self.resource)


@dataclass(frozen=True)
class Coding:
    path: str
    system: str
    code: str


def resource_type(resource: dict) -> str:
    """The resource's type, or "" when `resourceType` is not a name."""
    value = resource.get("resourceType")
    if isinstance(value, str) and 0 < len(value) <= 64 and set(value) <= RESOURCE_TYPE_CHARS:
        return value
    return ""


def resources(root: dict) -> Iterator[Found]:
    """The root, every Bundle entry's resource (nested Bundles too) and every contained
    resource, depth first in document order."""
    yield from _resources(root, resource_type(root) or "Resource", contained=False)


def _resources(resource: dict, path: str, contained: bool) -> Iterator[Found]:
    yield Found(path, resource, contained)
    for i, inner in enumerate(as_list(resource.get("contained"))):
        if isinstance(inner, dict):
            yield from _resources(inner, f"{path}.contained[{i}]", contained=True)
    if resource_type(resource) == "Bundle":
        for i, entry in enumerate(as_list(resource.get("entry"))):
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield from _resources(entry["resource"], f"{path}.entry[{i}].resource", contained=False)


def own_elements(resource: dict) -> Iterator[tuple[str, Any]]:
    """The resource's members other than those holding whole resources (contained, Bundle
    entries), which `resources` yields as resources of their own."""
    bundle = resource_type(resource) == "Bundle"
    for key, value in resource.items():
        if key == "contained" or (bundle and key == "entry"):
            continue
        yield key, value


def codings(resource: dict, path: str) -> Iterator[Coding]:
    """Every Coding in the resource's own elements: an object with a string `code` and a string
    `system`, or none ("" then: real feeds do leave it out), such as CodeableConcept.coding items,
    a bare Coding (Encounter.class) or meta.security."""
    for key, value in own_elements(resource):
        yield from _codings(value, f"{path}.{key}")


def _codings(value: Any, path: str) -> Iterator[Coding]:
    if isinstance(value, dict):
        system, code = value.get("system", ""), value.get("code")
        if isinstance(system, str) and isinstance(code, str) and code:
            yield Coding(path, system, code)
        for key, inner in value.items():
            if isinstance(inner, dict | list):
                yield from _codings(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _codings(item, f"{path}[{i}]")


def extension_urls(resource: dict, path: str) -> Iterator[tuple[str, str]]:
    """(path, url) of every extension and modifier extension in the resource's own elements."""
    for key, value in own_elements(resource):
        yield from _extensions(key, value, f"{path}.{key}")


def _extensions(key: str, value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            item_path = f"{path}[{i}]"
            url = item.get("url") if isinstance(item, dict) else None
            if key in ("extension", "modifierExtension") and isinstance(url, str):
                yield item_path, url
            yield from _extensions(key, item, item_path)
    elif isinstance(value, dict):
        for inner_key, inner in value.items():
            if isinstance(inner, dict | list):
                yield from _extensions(inner_key, inner, f"{path}.{inner_key}")


def element(resource: dict, dotted: str) -> Any:
    """The value at a dotted path of member names (`context.period`); for a list on the way, its
    first item. None when anything on the way is missing or of another type."""
    value: Any = resource
    for name in dotted.split("."):
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def as_list(value: Any) -> list:
    """A JSON array as a list; anything else (a malformed body) as an empty one."""
    return value if isinstance(value, list) else []


def concept_codings(value: Any) -> Iterator[tuple[str, str]]:
    """(system, code) of each coding of a CodeableConcept, or of each CodeableConcept in a list of
    them (an element such as Observation.category), in order; system "" when it has none."""
    for concept in value if isinstance(value, list) else [value]:
        if isinstance(concept, dict):
            for coding in as_list(concept.get("coding")):
                if isinstance(coding, dict):
                    system, code = coding.get("system", ""), coding.get("code")
                    if isinstance(system, str) and isinstance(code, str) and code:
                        yield system, code
