"""Who may act for a patient: the patient in person, a proxy the patient named, with the scope
the action needs, while the proxy is in force, or a representative the operator established (a
minor's legal guardian, PIPL 31; a deceased patient's next of kin, PIPL 49), who holds every
scope but PATIENT_ONLY while in force.

Refusals here never tell an enrolled patient from an unknown id (docs/disclosure.md): a patient
id the caller may not act for is refused with the same status, message and details whether or
not it is enrolled. The refusal is listed in an enrolled patient's access history, so the patient
sees the attempt, but its ledger entry names no patient: the caller may not act for them, and the
ledger never pairs an id a caller typed with its pseudonym.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.errors import ConsentryError, NotFound, PermissionDenied
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.store.models import Person, Proxy, Representative

MANAGE_CONSENTS = "manage-consents"
READ_HISTORY = "read-history"
# Deposit home-monitoring readings (ExchangeService.PutObservation, docs/readings.md).
REPORT_READINGS = "report-readings"
# The rights endpoints (RightsService): the patient and their representatives only; a proxy
# the patient named for their consents does not hold it.
EXERCISE_RIGHTS = "exercise-rights"
REPRESENTATIVE_SCOPES = (MANAGE_CONSENTS, READ_HISTORY, EXERCISE_RIGHTS, REPORT_READINGS)
# No proxy holds this scope: only the patient in person may name or remove proxies.
PATIENT_ONLY = "patient-only"

NOT_YOURS = "you may not act for this patient"

_Error = TypeVar("_Error", bound=ConsentryError)


def proxy_active(row: Proxy, now_ns: int) -> bool:
    return row.removed_ns is None and (row.expire_ns is None or row.expire_ns > now_ns)


def acting_for(s: Session, patient_id: str, scope: str) -> Principal:
    """The caller, if it is the patient or an active proxy of the patient with `scope`;
    PERMISSION_DENIED otherwise, the same for an unknown id as for an enrolled patient."""
    principal = current_principal()
    try:
        principal.require("patient")
        if not (principal.name == patient_id or scope in (_proxy_scopes(s, patient_id, principal) or ())):
            raise PermissionDenied(NOT_YOURS, [f"no active proxy with scope {scope}"])
    except PermissionDenied as denied:
        raise about_enrolled(s, denied, patient_id) from None
    return principal


def acting_for_owner(s: Session, patient_id: str, scope: str, not_found: str) -> Principal:
    """For an object of the patient's that the caller named by its id: NOT_FOUND with the
    message `not_found` (the one an id that does not exist gets) unless the caller is the patient
    or one of their active proxies; then as `acting_for`, which may still refuse the scope."""
    principal = current_principal()
    principal.require("patient")
    if principal.name != patient_id and _proxy_scopes(s, patient_id, principal) is None:
        raise about_enrolled(s, NotFound(not_found), patient_id)
    return acting_for(s, patient_id, scope)


def about_enrolled(s: Session, error: _Error, patient_id: str) -> _Error:
    """`error`, listed in the patient's history when one with this id is enrolled (the entry
    itself does not name them: the caller is not known to act for them)."""
    if s.get(Person, patient_id) is not None:
        error.about(patient_id)
    return error


def representative_active(row: Representative, now_ns: int) -> bool:
    return row.ended_ns is None and (row.end_ns is None or row.end_ns > now_ns)


def _proxy_scopes(s: Session, patient_id: str, principal: Principal) -> list[str] | None:
    """The scopes of the caller's active proxy or representative for the patient; None when it
    is neither."""
    now = clock.now_ns()
    representative = s.get(Representative, (patient_id, principal.name))
    if representative is not None and representative_active(representative, now):
        return list(REPRESENTATIVE_SCOPES)
    proxy = s.get(Proxy, (patient_id, principal.name))
    if proxy is None or not proxy_active(proxy, now):
        return None
    return list(proxy.scopes)
