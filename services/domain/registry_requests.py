"""Validation of RegistryService requests, apart from the handlers.

Each function checks one request before anything is read or written, raises InvalidArgument
naming every offending field and what was wanted, and returns what the handler goes on with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from consentry.services.domain import enrolment_codes
from consentry.services.domain.consents import broad_categories_of
from consentry.services.domain.patient_identifiers import validate_identifiers
from consentry.services.domain.privacy_notices import LANGUAGES, MAX_PART_CHARS, PARTS
from consentry.services.domain.validation import BROAD_CATEGORY, INSTITUTION_ID, Violations
from consentry.services.identity.staff import STAFF_ROLES
from consentry.v1 import registry_pb2 as pb

DEFAULT_PAGE = 100
# The `practitioner` claim of an institution's tokens names one of these.
PRACTITIONER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KEY_TYPES = {pb.KEY_TYPE_IDENTITY: "identity", pb.KEY_TYPE_ENCRYPTION: "encryption"}
# 16 hex digits, after "ed25519:" for an identity key (enrolment.key_id_for).
KEY_ID = re.compile(r"(ed25519:)?[0-9a-f]{16}")


def validate_register_institution(request: pb.RegisterInstitutionRequest) -> None:
    v = Violations()
    v.institution_id("institution_id", request.institution_id)
    v.text("display_name", request.display_name, required=True, limit=200)
    v.check(request.kind in pb.InstitutionKind.values() and request.kind != 0, "kind", "must be set")
    v.key32("identity_public_key", request.identity_public_key)
    v.key32("encryption_public_key", request.encryption_public_key)
    v.raise_if_any()


def validate_institution_id(institution_id: str) -> None:
    """For every request that names one institution (a lookup, its keys)."""
    v = Violations()
    v.institution_id("institution_id", institution_id)
    v.raise_if_any()


def validate_list_institutions(request: pb.ListInstitutionsRequest) -> int:
    """The page size."""
    v = Violations()
    v.page_size("page_size", request.page_size)
    v.page_token("page_token", request.page_token, INSTITUTION_ID)
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


def validate_rotate_institution_key(request: pb.RotateInstitutionKeyRequest) -> str:
    """The new key's type ("identity" or "encryption"); the institution id is checked first,
    with the caller's right to manage its keys."""
    v = Violations()
    v.check(request.type in KEY_TYPES, "type", "must be KEY_TYPE_IDENTITY or KEY_TYPE_ENCRYPTION")
    v.key32("public_key", request.public_key)
    v.raise_if_any()
    return KEY_TYPES[request.type]


def validate_revoke_institution_key(request: pb.RevokeInstitutionKeyRequest) -> None:
    """The institution id is checked first, with the caller's right to manage its keys."""
    v = Violations()
    v.check(bool(KEY_ID.fullmatch(request.key_id)), "key_id", "must be a key id as the registry shows it")
    v.text("reason", request.reason, required=True)
    v.raise_if_any()


def validate_enroll_patient(request: pb.EnrollPatientRequest) -> list[tuple[str, str]]:
    """The patient's other identifiers, as (system, value)."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    v.key32("identity_public_key", request.identity_public_key)
    identifiers = [(i.system, i.value) for i in request.identifiers]
    validate_identifiers(v, "identifiers", identifiers)
    v.raise_if_any()
    return identifiers


def validate_create_enrolment_code(request: pb.CreateEnrolmentCodeRequest) -> list[tuple[str, str]]:
    """The identifiers a new patient is to be enrolled with, as (system, value)."""
    v = Violations()
    v.person_id("patient_id", request.patient_id)
    identifiers = [(i.system, i.value) for i in request.identifiers]
    validate_identifiers(v, "identifiers", identifiers)
    v.raise_if_any()
    return identifiers


def validate_redeem_enrolment_code(request: pb.RedeemEnrolmentCodeRequest) -> str | None:
    """The normalised code, or None for one that cannot be a code: refused later like any wrong
    code (the format is public, but one answer for every bad code is simpler to trust)."""
    v = Violations()
    v.key32("identity_public_key", request.identity_public_key)
    v.check(len(request.proof) == 64, "proof", "must be a 64-byte Ed25519 signature")
    v.raise_if_any()
    return enrolment_codes.normalised(request.code[:64])


def validate_enroll_auditor(request: pb.EnrollAuditorRequest) -> None:
    v = Violations()
    v.institution_id("auditor_id", request.auditor_id)
    v.key32("identity_public_key", request.identity_public_key)
    v.raise_if_any()


def validate_register_practitioner(request: pb.RegisterPractitionerRequest) -> tuple[str, ...]:
    """The roles. The institution id is checked first, with the caller's right to manage its staff;
    whether its kind can have each role is checked against the institution (practitioners.register)."""
    v = Violations()
    _practitioner_id(v, request.practitioner_id)
    _roles(v, request.roles)
    v.raise_if_any()
    return tuple(request.roles)


def validate_remove_practitioner(request: pb.RemovePractitionerRequest) -> None:
    """The institution id is checked first, with the caller's right to manage its staff."""
    v = Violations()
    _practitioner_id(v, request.practitioner_id)
    v.raise_if_any()


def validate_list_practitioners(request: pb.ListPractitionersRequest) -> int:
    """The page size; the institution id is checked first, with the caller's right to read it."""
    v = Violations()
    v.page_size("page_size", request.page_size)
    v.check(not request.page_token or bool(PRACTITIONER_ID.fullmatch(request.page_token)), "page_token",
            "must be a next_page_token of an earlier page")
    v.raise_if_any()
    return request.page_size or DEFAULT_PAGE


def _practitioner_id(v: Violations, value: str) -> None:
    v.check(bool(PRACTITIONER_ID.fullmatch(value)), "practitioner_id",
            "must be 1-64 characters: letters, digits, '.', '_' and '-', starting with a letter or digit")


def _roles(v: Violations, roles: Sequence[str]) -> None:
    if not roles:
        v.add("roles", "must name at least one role")
    elif len(roles) > len(STAFF_ROLES):
        v.add("roles", f"must name at most {len(STAFF_ROLES)} roles")
    else:
        for i, role in enumerate(roles):
            v.check(role in STAFF_ROLES, f"roles[{i}]", "must be a staff role: " + ", ".join(sorted(STAFF_ROLES)))
        v.check(len(set(roles)) == len(roles), "roles", "must not repeat a role")


# -- privacy notices -----------------------------------------------------------------------------


def validate_publish_privacy_notice(request: pb.PublishPrivacyNoticeRequest) -> tuple[list[str], list[str],
                                                                                       dict[str, dict[str, str]]]:
    """The notice's purposes, categories ("*" expanded) and its text per language. A notice is
    complete or refused: every part in both languages, each violation naming the part missing."""
    v = Violations()
    v.institution_id("institution_id", request.institution_id)
    if request.notice_id:
        v.uuid("notice_id", request.notice_id)
    v.purposes("purposes", request.purposes, required=True)
    v.categories("categories", [c for c in request.categories if c != BROAD_CATEGORY],
                 required=not request.categories)
    texts: dict[str, dict[str, str]] = {}
    for i, text in enumerate(request.texts):
        if not v.check(text.language in LANGUAGES and text.language not in texts, f"texts[{i}].language",
                       "must be one of " + ", ".join(LANGUAGES) + ", each once"):
            continue
        texts[text.language] = {part: getattr(text, part) for part in PARTS}
        for part in PARTS:
            v.text(f"texts[{i}].{part}", getattr(text, part), required=True, limit=MAX_PART_CHARS)
    for language in LANGUAGES:
        v.check(language in texts, "texts", f"must include the notice in {language}")
    v.raise_if_any()
    categories = set(request.categories) - {BROAD_CATEGORY} | set(broad_categories_of(list(request.categories)) or ())
    return sorted(set(request.purposes)), sorted(categories), texts


def validate_get_privacy_notice(request: pb.GetPrivacyNoticeRequest) -> None:
    v = Violations()
    v.uuid("notice_id", request.notice_id)
    v.check(request.version >= 0, "version", "must be 0 (the latest) or a version number")
    v.raise_if_any()
