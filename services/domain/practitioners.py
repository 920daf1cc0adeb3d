"""An institution's staff: the practitioners it registered and the roles each holds there.

Authentication accepts an institution's token only for a registered practitioner acting in one
of their roles (services/identity/auth.py), so registering is what gives a role its weight, and
the institution's kind bounds it: an insurer never registers a physician. Every registration and
removal is ledgered in the caller's write transaction, with the roles.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consentry.services import clock
from consentry.services.domain.enrolment import require_institution
from consentry.services.domain.validation import Violations
from consentry.services.errors import FailedPrecondition, NotFound, PermissionDenied
from consentry.services.identity import staff
from consentry.services.identity.principals import Principal
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.models import Practitioner


def require_staff_manager(principal: Principal, institution_id: str) -> None:
    """The operator, or the institution itself, manages an institution's practitioners."""
    if principal.kind == "org" and principal.name != institution_id:
        raise PermissionDenied("an institution may manage only its own practitioners")


def register(s: Session, trail: AuditTrail, manager: Principal, institution_id: str, practitioner_id: str,
             roles: Sequence[str]) -> Practitioner:
    """Registers the practitioner with exactly these roles (replacing any held before, and
    reinstating a removed practitioner); each role must be one the institution's kind can have."""
    kind = staff.kind_name(require_institution(s, institution_id).kind)
    v = Violations()
    for i, role in enumerate(roles):
        v.check(staff.may_have(kind, role), f"roles[{i}]", f"an institution of kind {kind} cannot have this role")
    v.raise_if_any()
    now = clock.now_ns()
    row = s.get(Practitioner, (institution_id, practitioner_id))
    if row is None:
        row = Practitioner(institution_id=institution_id, practitioner_id=practitioner_id, roles=list(roles),
                           registered_ns=now)
        s.add(row)
    else:
        row.roles, row.registered_ns, row.removed_ns = list(roles), now, None
    trail.append(s, "practitioner.registered", manager.id, institution="org:" + institution_id,
                 practitioner=practitioner_id, roles=list(roles))
    s.flush()
    return row


def remove(s: Session, trail: AuditTrail, manager: Principal, institution_id: str,
           practitioner_id: str) -> Practitioner:
    """Removes the practitioner; their tokens are refused from the next call. An institution never
    removes its last practitioner (it could not call again), only the operator may."""
    require_institution(s, institution_id)
    row = s.get(Practitioner, (institution_id, practitioner_id))
    if row is None:
        raise NotFound("the institution has no practitioner with this id")
    if row.removed_ns is not None:
        raise FailedPrecondition("the practitioner is already removed")
    if manager.kind == "org" and _registered_count(s, institution_id) <= 1:
        raise FailedPrecondition("an institution cannot remove its last practitioner; ask the operator")
    row.removed_ns = clock.now_ns()
    trail.append(s, "practitioner.removed", manager.id, institution="org:" + institution_id,
                 practitioner=practitioner_id, roles=list(row.roles))
    s.flush()
    return row


def practitioners_page(s: Session, institution_id: str, size: int, after: str) -> tuple[list[Practitioner], str]:
    """One page of the institution's registered practitioners by id, and the next page's token
    ("" on the last page)."""
    require_institution(s, institution_id)
    rows = s.scalars(
        select(Practitioner)
        .where(Practitioner.institution_id == institution_id, Practitioner.removed_ns.is_(None),
               Practitioner.practitioner_id > after)
        .order_by(Practitioner.practitioner_id).limit(size + 1)
    ).all()
    return list(rows[:size]), rows[size - 1].practitioner_id if len(rows) > size else ""


def _registered_count(s: Session, institution_id: str) -> int:
    return s.scalar(select(func.count()).select_from(Practitioner).where(
        Practitioner.institution_id == institution_id, Practitioner.removed_ns.is_(None))) or 0
