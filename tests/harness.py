"""A real Consentry server on a loopback port, and the principals a test needs."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import Row, create_engine, text

from consentry.ledger.db import LedgerReader
from consentry.services import config as cfg
from consentry.services.api.app import App
from consentry.services.api.server import Server
from consentry.services.cli.bootstrap import build_app, init_data_dir, operator_key
from consentry.services.config import Settings
from consentry.services.crypto import keyfiles
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import audit_pb2, consent_pb2, registry_pb2

# What a raw FetchRecords request must carry besides its fields (the SDK sends a fresh one per fetch).
NONCE = secrets.token_bytes(16)


@dataclass
class Org:
    id: str
    client: Client
    identity: SigningKey
    encryption: PrivateKey


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
              **overrides) -> Harness:
        """A server on loopback. With `tls_client_ca` among the overrides it runs mutual TLS and
        `target` is its listener without client certificates (`mtls_target` the other one). With
        `http` (HOST:PORT) it serves the web front door there too (`server.web.url`)."""
        settings = Settings(data_dir=data_dir, database_url=database_url, **overrides)
        init_data_dir(settings)
        app, signer = build_app(settings)
        without_cert = "127.0.0.1:0" if settings.tls_client_ca is not None else None
        server = Server(app, signer, "127.0.0.1:0", workers=8, listen_without_client_cert=without_cert,
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
    def operator_identity(self) -> SigningKey:
        return operator_key(self.settings)

    @property
    def service_key(self) -> VerifyKey:
        return keyfiles.load_signing_key(self.settings.key_path(cfg.SHARE_SIGNING_KEY)).verify_key

    def client(self, caller: Caller, *, target: str | None = None, certificate_chain: bytes | None = None,
               private_key: bytes | None = None) -> Client:
        c = Client(target or self.target, caller, root_certificates=self.roots, certificate_chain=certificate_chain,
                   private_key=private_key)
        self.clients.append(c)
        return c

    def org(self, kind: registry_pb2.InstitutionKind = registry_pb2.INSTITUTION_KIND_HOSPITAL, role: str = "physician",
            practitioner: str = "dr-test", prefix: str = "org") -> Org:
        org_id = f"{prefix}-{secrets.token_hex(4)}"
        identity, encryption = SigningKey.generate(), PrivateKey.generate()
        self.operator.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
            institution_id=org_id, display_name=org_id, kind=kind,
            identity_public_key=bytes(identity.verify_key), encryption_public_key=bytes(encryption.public_key)))
        self.operator.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
            institution_id=org_id, practitioner_id=practitioner, roles=[role]))
        return Org(org_id, self.client(Caller("org:" + org_id, identity, role=role, practitioner=practitioner)),
                   identity, encryption)

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
        """Every ledger entry's canonical bytes, exactly as hashed, read as an auditor would."""
        if self._reader is None:
            self._reader = self.auditor()
        auditor = self._reader
        out: list[bytes] = []
        start = 0
        while True:
            page = auditor.client.audit.ListEntries(audit_pb2.ListEntriesRequest(start=start, page_size=1000))
            out.extend(e.entry for e in page.entries)
            if not page.entries:
                return out
            start = page.next_start

    def flush_refusals(self) -> list[dict]:
        """Ledgers the refusal summaries counted so far, as the server's upkeep thread does once
        their window ends (and `stop` does for all of them); returns the summaries appended."""
        with self.app.db.read() as session:
            start = LedgerReader(session.connection()).size()
        self.server.flush_refusals(everything=True)
        return [e for e in self.entries()[start:] if e["kind"] in ("auth.refused", "call.rate_limited")]

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
    return patient.client.consent.GrantConsent(consent_pb2.GrantConsentRequest(
        patient_id=patient.id, grantee=org.id,
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
