"""A real Consentry server on a loopback port, and the principals a test needs."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import softhsm
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import Row, create_engine, text

from consentry.ledger.db import LedgerReader
from consentry.services.api.app import App
from consentry.services.api.server import Server
from consentry.services.cli.bootstrap import build_app, init_data_dir
from consentry.services.cli.datadir import operator_key, share_verify_key
from consentry.services.config import Settings
from consentry.services.domain.validation import CATEGORIES, EXPIRY_REQUIRED_CATEGORIES, PURPOSES
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.services.signer import Ed25519Signer
from consentry.v1 import audit_pb2, common_pb2, consent_pb2, registry_pb2

# What a raw FetchRecords request must carry besides its fields (the SDK sends a fresh one per fetch).
NONCE = secrets.token_bytes(16)


@dataclass
class Org:
    id: str
    client: Client
    identity: SigningKey
    encryption: PrivateKey
    notice: common_pb2.NoticeRef  # its privacy notice covering every category and purpose


def notice_texts(name: str) -> list[registry_pb2.NoticeText]:
    """A complete privacy notice text in both languages."""
    parts = {"recipient_legal_name": f"{name} Ltd.", "recipient_contact": f"dpo@{name}.example",
             "purpose_description": "continuing care after discharge", "handling_method": "read by clinicians",
             "necessity_and_impact": "needed to treat you safely", "retention": "30 years, as the law requires",
             "how_to_withdraw": "revoke the consent in your app at any time"}
    return [registry_pb2.NoticeText(language=lang, **parts) for lang in ("zh-Hans", "en")]


@dataclass
class Person:
    id: str
    client: Client
    identity: SigningKey


@dataclass
class Harness:
    settings: Settings
    server: Server
    target: str
    operator: Client
    clients: list[Client] = field(default_factory=list)
    _reader: Person | None = None  # the auditor `entries` reads with, enrolled once
    roots: bytes | None = None  # the server's CA, on a TLS server

    @classmethod
    def start(cls, data_dir: Path, database_url: str, *, roots: bytes | None = None, http: str | None = None,
              workers: int = 8, **overrides) -> Harness:
        """A server on loopback. With `tls_client_ca` among the overrides it runs mutual TLS and
        `target` is its listener without client certificates (`mtls_target` the other one). With
        `http` (HOST:PORT) it serves the web front door there too (`server.web.url`)."""
        if softhsm.EVERY_HARNESS and "pkcs11_module" not in overrides:
            overrides |= {"pkcs11_module": softhsm.MODULE, "pkcs11_label": softhsm.pool_token(data_dir)}
        settings = Settings(data_dir=data_dir, database_url=database_url, **overrides)
        init_data_dir(settings)
        app, signer = build_app(settings)
        without_cert = "127.0.0.1:0" if settings.tls_client_ca is not None else None
        server = Server(app, signer, "127.0.0.1:0", workers=workers, listen_without_client_cert=without_cert,
                        http=http).start()
        target = f"127.0.0.1:{server.listeners[-1].port}"
        operator = Client(target, Caller("operator", operator_key(settings)), root_certificates=roots)
        return cls(settings, server, target, operator, roots=roots)

    @property
    def mtls_target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        for c in [self.operator, *self.clients]:
            c.close()
        self.server.stop(0)

    @property
    def app(self) -> App:
        return self.server.app

    @property
    def operator_identity(self) -> Ed25519Signer:
        return operator_key(self.settings)

    @property
    def service_key(self) -> VerifyKey:
        return share_verify_key(self.settings)

    def client(self, caller: Caller, *, target: str | None = None, certificate_chain: bytes | None = None,
               private_key: bytes | None = None) -> Client:
        c = Client(target or self.target, caller, root_certificates=self.roots, certificate_chain=certificate_chain,
                   private_key=private_key)
        self.clients.append(c)
        return c

    def org(self, kind: registry_pb2.InstitutionKind = registry_pb2.INSTITUTION_KIND_HOSPITAL, role: str = "physician",
            practitioner: str = "dr-test", prefix: str = "org", part2_program: bool = False) -> Org:
        org_id = f"{prefix}-{secrets.token_hex(4)}"
        identity, encryption = SigningKey.generate(), PrivateKey.generate()
        self.operator.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
            institution_id=org_id, display_name=org_id, kind=kind,
            identity_public_key=bytes(identity.verify_key), encryption_public_key=bytes(encryption.public_key),
            part2_program=part2_program))
        self.operator.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
            institution_id=org_id, practitioner_id=practitioner, roles=[role]))
        return Org(org_id, self.client(Caller("org:" + org_id, identity, role=role, practitioner=practitioner)),
                   identity, encryption, self.publish_notice(org_id))

    def publish_notice(self, org_id: str, categories: Sequence[str] = CATEGORIES,
                       purposes: Sequence[str] = PURPOSES) -> common_pb2.NoticeRef:
        """Publishes a complete privacy notice of the institution (as the operator); its ref."""
        return self.operator.registry.PublishPrivacyNotice(registry_pb2.PublishPrivacyNoticeRequest(
            institution_id=org_id, purposes=list(purposes), categories=list(categories),
            texts=notice_texts(org_id))).ref

    def patient(self) -> Person:
        patient_id = f"P{secrets.token_hex(5)}"
        identity = SigningKey.generate()
        self.operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
            patient_id=patient_id, identity_public_key=bytes(identity.verify_key)))
        return Person(patient_id, self.client(Caller("patient:" + patient_id, identity)), identity)

    def auditor(self) -> Person:
        auditor_id = f"audit-{secrets.token_hex(4)}"
        identity = SigningKey.generate()
        self.operator.registry.EnrollAuditor(registry_pb2.EnrollAuditorRequest(
            auditor_id=auditor_id, identity_public_key=bytes(identity.verify_key)))
        return Person(auditor_id, self.client(Caller("auditor:" + auditor_id, identity)), identity)

    def entries(self) -> list[dict]:
        """Every ledger entry, read as an auditor would."""
        return [json.loads(e) for e in self.raw_entries()]

    def raw_entries(self) -> list[bytes]:
        """Every ledger entry's canonical bytes, exactly as hashed, read as an auditor would, but
        for the entries that ledger this reading itself (they would shift every count a test
        takes before and after a call). Index by an entry's `seq`, not by its position."""
        return [entry for _seq, entry in self.entries_by_seq()]

    def raw_ledger(self) -> list[bytes]:
        """The whole ledger as an auditor exports it, the harness's own reads included: the
        entry at index n is entry n, so it verifies against a checkpoint."""
        return [entry for _seq, entry in self.entries_by_seq(own_reads=True)]

    def entries_by_seq(self, *, own_reads: bool = False) -> list[tuple[int, bytes]]:
        """(seq, canonical bytes) of every entry; with `own_reads`, the harness's reads too."""
        if self._reader is None:
            self._reader = self.auditor()
        auditor = self._reader
        mine = b'"actor":"auditor:%s","count":' % auditor.id.encode()
        out: list[tuple[int, bytes]] = []
        start = 0
        while True:
            page = auditor.client.audit.ListEntries(audit_pb2.ListEntriesRequest(start=start, page_size=1000))
            out.extend((e.seq, e.entry) for e in page.entries
                       if own_reads or not (mine in e.entry and b'"kind":"metadata.read"' in e.entry))
            if not page.entries:
                return out
            start = page.next_start

    def entry_at(self, seq: int) -> dict:
        """The ledger entry with this sequence number."""
        return next(json.loads(entry) for s, entry in self.entries_by_seq() if s == seq)

    def flush_refusals(self) -> list[dict]:
        """Ledgers the refusal summaries counted so far, as the server's upkeep thread does once
        their window ends (and `stop` does for all of them); returns the summaries appended."""
        with self.app.db.read() as session:
            start = LedgerReader(session.connection()).size()
        self.server.flush_refusals(everything=True)
        appended = [json.loads(entry) for seq, entry in self.entries_by_seq() if seq >= start]
        return [e for e in appended if e["kind"] in ("auth.refused", "call.rate_limited")]

    def pseudonym(self, patient_id: str) -> str | None:
        """The patient's ledger pseudonym under their own key; None if no entry has named them."""
        with self.app.db.read() as session:
            return self.app.trail.known_pseudonym(session, patient_id)

    def actor(self, principal_id: str) -> str:
        """A principal as entries name it (a patient by their ledger pseudonym)."""
        if principal_id.startswith("patient:"):
            return f"patient:{self.pseudonym(principal_id.split(':', 1)[1])}"
        return principal_id

    def sql(self, statement: str, **params: object) -> Sequence[Row[Any]] | None:
        """Direct database access, as an attacker with the database (or a test) would have."""
        engine = create_engine(self.settings.database_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return result.fetchall() if result.returns_rows else None
        finally:
            engine.dispose()


def grant(patient: Person, org: Org, categories, purposes=("TREAT",), **terms) -> consent_pb2.Consent:
    """Grants under the org's notice. A consent that must end (policy/data/consent_terms.json: a
    research consent, one naming substance-use) gets a year's validity unless `validity` is given."""
    must_end = terms.get("kind") == consent_pb2.CONSENT_KIND_RESEARCH or set(categories) & EXPIRY_REQUIRED_CATEGORIES
    if must_end and "validity" not in terms:
        terms["validity"] = common_pb2.Period(end=Timestamp(seconds=int(time.time()) + 365 * 86_400))
    return patient.client.consent.GrantConsent(consent_pb2.GrantConsentRequest(
        patient_id=patient.id, grantee=org.id, notice=org.notice,
        terms=consent_pb2.ConsentTerms(categories=list(categories), purposes=list(purposes), **terms))).consent


def field_violations(error: grpc.RpcError) -> dict[str, str]:
    """The google.rpc.BadRequest field violations carried by an INVALID_ARGUMENT error."""
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status details"
    out = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            out.update({v.field: v.description for v in bad.field_violations})
    return out
