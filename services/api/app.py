"""Everything a servicer needs, built once at start-up and shared."""

from __future__ import annotations

from dataclasses import dataclass

from consentry.policy.engine import PolicyEngine
from consentry.services.config import Settings
from consentry.services.crypto.kek import KeyEncryptionKeyProvider
from consentry.services.crypto.key_provider import Ed25519Signer, KeyProvider
from consentry.services.domain.records import DepositRules
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database


@dataclass
class App:
    settings: Settings
    db: Database
    trail: AuditTrail
    keys: KeyProvider
    share_signer: Ed25519Signer
    ledger_verifier_key: str
    kek: KeyEncryptionKeyProvider
    policy: PolicyEngine
    deposit_rules: DepositRules
