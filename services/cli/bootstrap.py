"""Creating a data directory (`consentry init`) and assembling the running service from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from consentry.policy import load_engine
from consentry.services import config as cfg
from consentry.services.api.app import App
from consentry.services.api.metrics import TimedPolicy
from consentry.services.cli.datadir import LedgerSigners, ledger_signer
from consentry.services.config import Settings
from consentry.services.crypto import keyfiles, record_keys
from consentry.services.crypto.kek_rotation import DirectoryKekProvider
from consentry.services.crypto.key_chain import SHARE_SIGNING
from consentry.services.crypto.key_provider import (
    SECRET_PURPOSES,
    SIGNING_KEYS,
    Ed25519Signer,
    key_provider,
    pseudonym_secret,
)
from consentry.services.crypto.record_keys import RecordKeyVault
from consentry.services.domain import consents, erasure, operator_key, research_subjects, service_keys
from consentry.services.domain.enrolment import add_key
from consentry.services.domain.records import DepositRules
from consentry.services.identity.tokens import identity_key_id
from consentry.services.store import pseudonym_keys, schema
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database
from consentry.services.store.models import PrincipalKey


@dataclass(frozen=True)
class InitResult:
    data_dir: Path
    created: list[str]  # where each key made was put
    ledger_verifier_key: str


def init_data_dir(settings: Settings) -> InitResult:
    """Creates the data directory and every missing key (0600 files, or keys in the token);
    never overwrites a key."""
    keyfiles.ensure_private_dir(settings.data_dir)
    keys = key_provider(settings)
    keys.check()
    created = []
    for name in SIGNING_KEYS:
        if not keys.has_signer(name):
            keys.create_signer(name)
            created.append(keys.where(name))
    for name, purpose in SECRET_PURPOSES.items():
        if not settings.key_path(name).exists():
            keys.generate_secret(settings.key_path(name), purpose)
            created.append(keys.where(name))
    return InitResult(settings.data_dir, created, ledger_signer(settings).verifier.to_key())


def build_app(settings: Settings) -> tuple[App, LedgerSigners]:
    """Loads keys, migrates the database, registers the operator key, starts the policy engine."""
    keys = key_provider(settings)
    keys.check()
    missing = [n for n in SIGNING_KEYS if not keys.has_signer(n)]
    missing += [n for n in SECRET_PURPOSES if not settings.key_path(n).exists()]
    if missing:
        raise FileNotFoundError(
            f"missing {', '.join(missing)} ({keys.description}); run `consentry init --data-dir {settings.data_dir}`"
        )
    # The shipped value sets and what the operator added (docs/labelling.md, "Value sets"); read
    # first, so a file that would take sensitivity away stops the start before anything opens.
    deposit_rules = DepositRules.load(settings.valueset_dirs())
    db = Database(settings.database_url)
    schema.upgrade(db)
    _register_operator(db, keys.signer(cfg.OPERATOR_KEY))
    service_keys.register_current(db, SHARE_SIGNING, bytes(keys.signer(cfg.SHARE_SIGNING_KEY).verify_key))
    secret = pseudonym_secret(keys)
    research_subjects.assign_missing(db, secret)  # research consents from before subject ids
    consents.mac_missing(db, secret)  # consent rows from before MACs (after subject ids: it covers them)
    pseudonym_keys.adopt_service_wide(db, secret)  # patients from before per-patient keys
    signers = LedgerSigners(settings)
    app = App(
        settings=settings,
        db=db,
        trail=AuditTrail(secret),
        keys=keys,
        # Follows `consentry keys rotate share-signing` without a restart (domain/service_keys.py).
        share_signer=service_keys.FollowingSigner(db, keys, cfg.SHARE_SIGNING_KEY, SHARE_SIGNING),
        ledger_signer=signers.current,
        # kek.key plus the retired kek-<id>.key files; follows a rotation without a restart.
        # Each wrapped key shielded under its record's own key in record-keys/, so erasing a
        # record shreds it in every copy of the database (crypto/record_keys.py).
        kek=RecordKeyVault(DirectoryKekProvider(keys), settings.data_dir / record_keys.DIRECTORY),
        policy=TimedPolicy(load_engine(settings.policy_engine, settings.opa_url, settings.policy_timeout_s)),
        deposit_rules=deposit_rules,
    )
    erasure.check_record_keys(db, settings.data_dir / record_keys.DIRECTORY)
    erasure.destroy_leftover_keys(db, app.kek)  # erasures a stopped server did not finish
    return app, signers


def _register_operator(db: Database, key: Ed25519Signer) -> None:
    """The operator's key comes from the key provider; make sure the registry knows it."""
    public = bytes(key.verify_key)
    with db.write() as s:
        if s.get(PrincipalKey, identity_key_id(public)) is None:
            add_key(s, operator_key.OPERATOR, "identity", public)
