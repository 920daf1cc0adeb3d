"""The roles each institution kind can have (policy/data/institutions.json) as the service reads
them: every kind of the API is covered, every role is one the duties define, and only the kinds
that deliver care have a role that may break the glass."""

from __future__ import annotations

import json

import pytest

from consentry.policy.bundle import POLICY_DIR
from consentry.services.identity import staff
from consentry.v1 import registry_pb2

KINDS = json.loads((POLICY_DIR / "data" / "institutions.json").read_text())["kinds"]
DUTIES = json.loads((POLICY_DIR / "data" / "duties.json").read_text())["roles"]


def test_every_institution_kind_of_the_api_has_an_entry():
    named = {staff.kind_name(k) for k in registry_pb2.InstitutionKind.values()} - {""}
    assert named == set(KINDS) == {"hospital", "clinic", "family-doctor", "laboratory", "insurer",
                                   "research-registry"}


@pytest.mark.parametrize(("number", "name"), [
    (registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, "family-doctor"),
    (registry_pb2.INSTITUTION_KIND_RESEARCH_REGISTRY, "research-registry"),
    (registry_pb2.INSTITUTION_KIND_HOSPITAL, "hospital"),
    (registry_pb2.INSTITUTION_KIND_UNSPECIFIED, ""),
    (99, ""),
])
def test_kind_names_are_the_policys(number, name):
    assert staff.kind_name(number) == name


def test_every_role_of_a_kind_is_a_staff_role():
    assert set(DUTIES) == staff.STAFF_ROLES
    for kind, entry in KINDS.items():
        assert set(entry["roles"]) <= staff.STAFF_ROLES, kind
        assert len(set(entry["roles"])) == len(entry["roles"]), kind
        assert isinstance(entry["delivers_care"], bool), kind


def test_only_care_delivering_kinds_have_a_clinician():
    clinicians = {role for role, duty in DUTIES.items() if duty["clinician"]}
    for kind, entry in KINDS.items():
        assert bool(clinicians & set(entry["roles"])) == entry["delivers_care"], kind


def test_an_insurer_is_never_a_physician():
    assert staff.roles_of("insurer") == {"claims-officer", "admin-clerk"}
    assert staff.roles_of("research-registry") == {"researcher", "admin-clerk"}
    assert not staff.may_have("insurer", "physician")
    assert not staff.may_have("laboratory", "physician")
    assert staff.may_have("family-doctor", "physician")
    assert staff.roles_of("pharmacy") == frozenset()
