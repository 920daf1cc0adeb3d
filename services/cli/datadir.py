"""The keys a command reads from the data directory: key files only, never the database.

Client commands (`audit key`, `audit export`, `demo --target`) use these too, so this module
imports nothing of the server.
"""

from __future__ import annotations

from nacl.signing import SigningKey, VerifyKey

from consentry.ledger.checkpoint import NoteSigner
from consentry.services import config as cfg
from consentry.services.config import Settings
from consentry.services.crypto import keyfiles


def ledger_signer(settings: Settings) -> NoteSigner:
    seed = bytes(keyfiles.load_signing_key(settings.key_path(cfg.LEDGER_SIGNING_KEY)))
    return NoteSigner(settings.ledger_origin, seed)


def operator_key(settings: Settings) -> SigningKey:
    return keyfiles.load_signing_key(settings.key_path(cfg.OPERATOR_KEY))


def share_verify_key(settings: Settings) -> VerifyKey:
    """The public half of the key the service signs share packages with."""
    return keyfiles.load_signing_key(settings.key_path(cfg.SHARE_SIGNING_KEY)).verify_key
