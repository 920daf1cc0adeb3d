"""Everything a servicer needs, built once at start-up and shared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consentry.ledger.checkpoint import DelegatedNoteSigner
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
    # The key that signs checkpoints now, read again at each call, so that a rotation (`consentry
    # keys rotate ledger`) is followed without a restart (cli/datadir.LedgerSigners.current).
    ledger_signer: Callable[[], DelegatedNoteSigner]
    kek: KeyEncryptionKeyProvider
    policy: PolicyEngine
    deposit_rules: DepositRules

    @property
    def ledger_verifier_key(self) -> str:
        """The current checkpoint key, as the signed-note verifier key auditors pin."""
        return self.ledger_signer().verifier.to_key()
