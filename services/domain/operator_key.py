"""Rotating the operator's identity key (`consentry keys rotate operator`, docs/keys.md).

The operator is a principal like any other (docs/identity.md): its key is registered in the
registry, and a call authenticates under the current key, or under the one it replaced within the
key grace. A rotation stages a new key with the key provider (a file, or a pair in the PKCS#11
token), registers it as current in a write transaction that also ledgers `key.rotated`, then
promotes it; the replaced private key has no use left and is destroyed. Run again after a crash,
it finishes: a staged key the registry already holds is only promoted. After a compromise,
`consentry keys revoke operator KEY_ID` revokes a key outright (no grace).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from consentry.services import clock
from consentry.services import config as cfg
from consentry.services.crypto.key_provider import KeyProvider
from consentry.services.domain.enrolment import add_key
from consentry.services.errors import FailedPrecondition, NotFound
from consentry.services.identity.tokens import identity_key_id
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database
from consentry.services.store.models import PrincipalKey

OPERATOR = "operator"


@dataclass(frozen=True)
class OperatorRotation:
    old_key_id: str | None
    new_key_id: str


def rotate_operator_key(db: Database, trail: AuditTrail, keys: KeyProvider) -> OperatorRotation:
    new_public = bytes(keys.stage_signer(cfg.OPERATOR_KEY).verify_key)
    new_id = identity_key_id(new_public)
    with db.write() as s:
        old_id = s.scalar(select(PrincipalKey.key_id).where(
            PrincipalKey.principal == OPERATOR, PrincipalKey.key_type == "identity", PrincipalKey.status == "current"))
        if old_id != new_id:  # else a run that crashed after this transaction: only promote below
            add_key(s, OPERATOR, "identity", new_public)
            trail.append(s, "key.rotated", OPERATOR, principal=OPERATOR, key_type="identity", key_id=new_id,
                         previous_key_id=old_id)
    keys.promote_signer(cfg.OPERATOR_KEY)
    for retired in keys.retired_signers(cfg.OPERATOR_KEY):
        keys.destroy_retired_signer(cfg.OPERATOR_KEY, retired)
    return OperatorRotation(old_id if old_id != new_id else None, new_id)


def revoke_operator_key(db: Database, trail: AuditTrail, keys: KeyProvider, key_id: str) -> OperatorRotation | None:
    """After a compromise: the operator key `key_id` authenticates nothing from now on, not even
    within the key grace. The current key is rotated away first (the returned rotation); a call
    token lives at most five minutes, so no earlier time needs refusing. Ledgered `key.revoked`."""
    with db.read() as s:
        key = s.get(PrincipalKey, key_id)
        if key is None or key.principal != OPERATOR:
            raise NotFound("the operator has no key with this id")
        if key.status == "revoked":
            raise FailedPrecondition("the key is already revoked")
        current = key.status == "current"
    rotation = rotate_operator_key(db, trail, keys) if current else None
    with db.write() as s:
        key = s.get(PrincipalKey, key_id)
        assert key is not None
        key.status, key.revoked_ns = "revoked", clock.now_ns()
        trail.append(s, "key.revoked", OPERATOR, principal=OPERATOR, key_type="identity", key_id=key_id)
    return rotation
