"""Who may act for a patient: the patient in person, or a proxy the patient named, with the
scope the action needs, while the proxy is in force."""

from __future__ import annotations

from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.errors import NotFound, PermissionDenied
from consentry.services.identity.principals import Principal, current_principal
from consentry.services.store.models import Person, Proxy

MANAGE_CONSENTS = "manage-consents"
READ_HISTORY = "read-history"
# No proxy holds this scope: only the patient in person may name or remove proxies.
PATIENT_ONLY = "patient-only"


def proxy_active(row: Proxy, now_ns: int) -> bool:
    return row.removed_ns is None and (row.expire_ns is None or row.expire_ns > now_ns)


def acting_for(s: Session, patient_id: str, scope: str) -> Principal:
    """The caller, if it is the patient or an active proxy of the patient with `scope`."""
    principal = current_principal()
    try:
        principal.require("patient")
    except PermissionDenied as denied:
        denied.about(patient_id)  # the refusal is ledgered as about this patient
        raise
    if s.get(Person, patient_id) is None:
        raise NotFound("no patient with this id is enrolled")
    if principal.name == patient_id:
        return principal
    proxy = s.get(Proxy, (patient_id, principal.name))
    if proxy is None or not proxy_active(proxy, clock.now_ns()) or scope not in proxy.scopes:
        raise PermissionDenied("you may not act for this patient",
                               [f"no active proxy with scope {scope}"]).about(patient_id)
    return principal
