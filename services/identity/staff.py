"""Which staff roles an institution can have: the policy's own data, read once.

policy/data/duties.json names the roles; policy/data/institutions.json gives each institution
kind the roles it can have and says whether it delivers care. Authentication and practitioner
registration read them here, the policy reads the same files, so a role an institution's kind
cannot have is refused by both (docs/policy.md, "Roles per institution kind").
"""

from __future__ import annotations

import json

from consentry.policy.bundle import POLICY_DIR
from consentry.v1 import registry_pb2

_PREFIX = "INSTITUTION_KIND_"
_DATA = POLICY_DIR / "data"

_DUTIES: dict[str, dict] = json.loads((_DATA / "duties.json").read_text())["roles"]
STAFF_ROLES: frozenset[str] = frozenset(_DUTIES)
_INSTITUTIONS: dict[str, dict] = json.loads((_DATA / "institutions.json").read_text())["kinds"]
_KINDS: dict[str, frozenset[str]] = {kind: frozenset(entry["roles"]) for kind, entry in _INSTITUTIONS.items()}


def kind_name(kind: int) -> str:
    """The policy's name of an InstitutionKind (INSTITUTION_KIND_FAMILY_DOCTOR -> "family-doctor");
    "" for a number that is no kind, or unspecified."""
    if kind == registry_pb2.INSTITUTION_KIND_UNSPECIFIED or kind not in registry_pb2.InstitutionKind.values():
        return ""
    return registry_pb2.InstitutionKind.Name(kind).removeprefix(_PREFIX).lower().replace("_", "-")


def roles_of(kind: str) -> frozenset[str]:
    """The roles an institution of this kind (a policy name) can have; none for an unknown kind."""
    return _KINDS.get(kind, frozenset())


def may_have(kind: str, role: str) -> bool:
    return role in roles_of(kind)


def may_break_glass(kind: str, role: str) -> bool:
    """A clinician of a care-delivering institution: the only caller whose emergency counts (the
    policy applies the same rule to every record)."""
    return (may_have(kind, role) and _INSTITUTIONS[kind].get("delivers_care") is True
            and _DUTIES[role].get("clinician") is True)


def default_role(kind: str, purpose: str) -> str:
    """The role a preview decides as when none is named: of the roles this kind of institution
    can have, the one whose duties cover the most categories for `purpose` (the first listed in
    institutions.json on a tie; "" for an unknown kind)."""
    roles = _INSTITUTIONS.get(kind, {}).get("roles", [])
    return max(roles, key=lambda role: len(_DUTIES[role]["purposes"].get(purpose, [])), default="")
