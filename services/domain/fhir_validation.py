"""Whether a deposited body is valid FHIR: its structure, cardinalities, primitive formats and
required code bindings, checked with the `fhir.resources` models (docs/labelling.md, "Valid FHIR").

The models are those of FHIR R4B (4.3.0), the newest R4-family release the library maintains:
its `R4` models were dropped after 6.x, which needs pydantic 1. R4B keeps the elements of R4 for
every resource that holds patient data (all 393 real R4 examples validate); it removed 18
definitional types (MedicinalProduct*, Substance*, *EvidenceSynthesis), which name no patient and
are refused here.

A violation names the element by its path (`fhir_json.entry[0].resource.code`), never a value,
and never a member name the body chose: an element FHIR does not define is reported at its parent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from consentry.policy.bundle import POLICY_DIR

REQUIRED_CODES: dict[str, frozenset[str]] = {
    element: frozenset(codes) for element, codes in
    json.loads((POLICY_DIR / "data" / "deposit" / "required-codes.json").read_text())["codes"].items()
}
ELEMENT = re.compile(r"_?[A-Za-z][A-Za-z0-9]{0,63}")
# The models' messages for a choice element given in several types, and for a required one absent.
_CHOICE_SEVERAL = re.compile(r"Any of one field value is expected from this list \[([^\]]*)\]")
_CHOICE_ABSENT = re.compile(r"Expect any of field value from this list \[([^\]]*)\]")
NO_MODEL = "must be a FHIR R4 resource type that holds patient data"
WHY = {
    "missing": "is required by FHIR R4",
    "extra_forbidden": "holds an element FHIR R4 does not define here",
    "code": "must be a code of its required value set",
    "choice": "must hold one type only",
}
WRONG_FORMAT = "does not have the FHIR R4 type or format of this element"


def fhir_violations(resource: dict) -> list[tuple[str, str]]:
    """Every problem found, as (field, why), with fields under `fhir_json`; empty when valid."""
    try:
        model_class = _model_class(resource["resourceType"])
    except (LookupError, ValueError):
        return [("fhir_json.resourceType", NO_MODEL)]
    try:
        model = model_class.model_validate(resource)
    except ValidationError as e:
        return _dedup(_violation(error) for error in e.errors())
    except (LookupError, ValueError):  # a contained or entry resource of a type the models lack
        return [("fhir_json", "must hold only resources of FHIR R4 types that hold patient data")]
    except (TypeError, AttributeError, RecursionError):  # a shape the models' own checks trip over
        return [("fhir_json", "must be a valid FHIR R4 resource")]
    return list(_bad_codes(model, "fhir_json"))


@cache
def _model_class(resource_type: str) -> type[FHIRAbstractModel]:
    return get_fhir_model_class(resource_type)


def _violation(error: Any) -> tuple[str, str]:
    loc = list(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        loc = loc[:-1]  # the member's name is the caller's text
    if kind == "value_error" and (choice := _CHOICE_SEVERAL.search(error["msg"])):
        return _field(loc) + "." + _choice_name(choice.group(1)), WHY["choice"]
    if kind == "value_error" and (choice := _CHOICE_ABSENT.search(error["msg"])):
        return _field(loc) + "." + _choice_name(choice.group(1)), WHY["missing"]
    return _field(loc), WHY.get(kind, WRONG_FORMAT)


def _field(loc: list[Any]) -> str:
    field = "fhir_json"
    for part in loc:
        if isinstance(part, int):
            field += f"[{part}]"
        elif isinstance(part, str) and part != "root" and ELEMENT.fullmatch(part):
            field += "." + part
    return field


def _choice_name(listed: str) -> str:
    """`valueBoolean`, `valueString`, ... -> `value[x]`: the model's own names, never the body's."""
    names = [n.strip().strip("'\"") for n in listed.split(",") if n.strip()]
    prefix = names[0] if names else ""
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    cut = len(prefix)
    while cut and prefix[cut - 1].isupper():  # valueQuantity/valueQualifier share "valueQ"
        cut -= 1
    return (prefix[:cut] or "value") + "[x]"


def _bad_codes(model: FHIRAbstractModel, path: str) -> Iterator[tuple[str, str]]:
    """Code elements whose value is outside their required value set, anywhere in the resource."""
    fields = type(model).model_fields
    for name, info in fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        element = info.alias or name
        allowed = _closed_codes(type(model), name)
        if allowed is not None and isinstance(value, str) and value not in allowed:
            yield f"{path}.{element}", WHY["code"]
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, FHIRAbstractModel):
                    yield from _bad_codes(item, f"{path}.{element}[{i}]")
        elif isinstance(value, FHIRAbstractModel):
            yield from _bad_codes(value, f"{path}.{element}")


@cache
def _closed_codes(model: type[FHIRAbstractModel], name: str) -> frozenset[str] | None:
    """The codes an element may hold: our list where the models' is partial (ends in "+"), the
    models' where it is complete, None for an element that is not a bound code."""
    info = model.model_fields[name]
    ours = REQUIRED_CODES.get(f"{model.__name__}.{info.alias or name}")
    if ours is not None:
        return ours
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    listed = extra.get("enum_values")
    if not isinstance(listed, list) or not listed or "+" in listed:
        return None
    return frozenset(str(code) for code in listed)


def _dedup(found: Iterator[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(found))
