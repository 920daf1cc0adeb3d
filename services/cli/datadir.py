"""The service's keys a command uses, from the configured key provider: key files in the data
directory or a PKCS#11 token (crypto/key_provider.py); never the database.

Client commands (`audit key`, `audit export`, `demo --target`) use these too, so this module
imports nothing of the server.
"""

from __future__ import annotations

from nacl.signing import VerifyKey

from consentry.ledger.checkpoint import DelegatedNoteSigner
from consentry.services import config as cfg
from consentry.services.config import Settings
from consentry.services.crypto.key_provider import Ed25519Signer, key_provider


def ledger_signer(settings: Settings) -> DelegatedNoteSigner:
    """The checkpoint key as a signed-note signer named by the ledger's origin."""
    return note_signer(settings, key_provider(settings).signer(cfg.LEDGER_SIGNING_KEY))


def note_signer(settings: Settings, key: Ed25519Signer) -> DelegatedNoteSigner:
    return DelegatedNoteSigner(settings.ledger_origin, bytes(key.verify_key),
                               lambda message: bytes(key.sign(message).signature))


class LedgerSigners:
    """The keys that sign each checkpoint, read again at every cut, so that a server follows a
    rotation (`consentry keys rotate ledger`) without a restart: the current key, then every
    retired one still kept (the handover, docs/ledger.md "Key rotation")."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self) -> list[DelegatedNoteSigner]:
        keys = key_provider(self.settings)
        retired = keys.retired_signers(cfg.LEDGER_SIGNING_KEY)
        return [self.current(), *(note_signer(self.settings, retired[kid]) for kid in sorted(retired))]

    def current(self) -> DelegatedNoteSigner:
        """The key that signs every checkpoint now (the one auditors are told to pin)."""
        return ledger_signer(self.settings)


def operator_key(settings: Settings) -> Ed25519Signer:
    return key_provider(settings).signer(cfg.OPERATOR_KEY)


def share_verify_key(settings: Settings) -> VerifyKey:
    """The public half of the key the service signs share packages with."""
    return key_provider(settings).signer(cfg.SHARE_SIGNING_KEY).verify_key
