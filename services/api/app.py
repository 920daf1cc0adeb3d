"""Everything a servicer needs, built once at start-up and shared."""

from __future__ import annotations

from dataclasses import dataclass

from nacl.signing import SigningKey

from consentry.policy.engine import PolicyEngine
from consentry.services.config import Settings
from consentry.services.crypto.kek import KeyEncryptionKeyProvider
from consentry.services.domain.records import DepositRules
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database


@dataclass
class App:
    settings: Settings
    db: Database
    trail: AuditTrail
    share_signer: SigningKey
    ledger_signer: SigningKey
    ledger_verifier_key: str
    kek: KeyEncryptionKeyProvider
    policy: PolicyEngine
    deposit_rules: DepositRules
