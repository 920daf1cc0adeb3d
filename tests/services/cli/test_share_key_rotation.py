"""`consentry keys rotate share-signing` and `keys revoke share-signing` next to a running
`consentry serve`: a recipient who pinned only the old key follows the endorsement to the new one,
what the old key signed keeps verifying, a forged endorsement is refused, a revocation refuses
what the key signed from then on, and a rotation cut short is finished by the next run. Key files
or, with CONSENTRY_TEST_KEY_PROVIDER=pkcs11, a SoftHSM token; SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.exceptions
import pytest
import softhsm
from backends import BACKENDS, database
from cli_helpers import ok, run, serve
from harness import notice_texts
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

from consentry.services import config as cfg
from consentry.services.cli.demo import discharge_records
from consentry.services.crypto.errors import KeyRevoked, SignatureInvalid
from consentry.services.crypto.key_chain import SHARE_SIGNING, KeyChain, endorse, rotation_statement
from consentry.services.crypto.key_provider import (
    FileKeys,
    KeyProvider,
    TokenKeys,
    open_token,
    pseudonym_secret,
    signer_key_id,
)
from consentry.services.crypto.share import (
    Expected,
    build_share,
    open_archived_share,
    open_share,
    recipient_key_id,
    signature_message,
)
from consentry.services.domain import service_keys
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.services.sdk.consent_receipts import verify_consent_receipt
from consentry.services.store.audit_trail import AuditTrail
from consentry.services.store.db import Database
from consentry.services.store.models import ServiceSigningKey
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2


@dataclass
class Service:
    target: str
    data: Path
    env: dict[str, str]
    url: str
    keys: KeyProvider


@pytest.fixture(params=BACKENDS)
def service(request, tmp_path):
    """`consentry serve` on a fresh data directory and database, with its keys in files or a token."""
    yield from _served(request.param, tmp_path, ())


@pytest.fixture(params=BACKENDS)
def workers(request, tmp_path):
    """The same with `consentry serve --workers 2`: two processes on one port."""
    yield from _served(request.param, tmp_path, ("--workers", "2"))


def _served(backend: str, tmp_path: Path, args: tuple[str, ...]) -> Iterator[Service]:
    data = tmp_path / "data"
    env = dict(os.environ)
    with database(backend, tmp_path) as url:
        env["CONSENTRY_DATABASE_URL"] = url
        if softhsm.EVERY_HARNESS:
            label = softhsm.pool_token(data)
            env |= {"CONSENTRY_PKCS11_MODULE": softhsm.MODULE, "CONSENTRY_PKCS11_TOKEN": label,
                    "CONSENTRY_PKCS11_PIN": softhsm.PIN}
        ok(run("init", "--data-dir", str(data), env=env))
        keys: KeyProvider = (TokenKeys(data, open_token(softhsm.MODULE, label, softhsm.PIN))
                             if softhsm.EVERY_HARNESS else FileKeys(data))
        with open(tmp_path / "serve.log", "w") as log:
            proc, target = serve(data, log, env, args)
            try:
                yield Service(target, data, env, url, keys)
            finally:
                proc.terminate()
                proc.wait(timeout=30)


@dataclass
class Story:
    target: str
    doctor: Client
    encryption: PrivateKey
    patient: Client
    patient_id: str
    auditor: Client
    receipt: consent_pb2.ConsentReceipt
    consent_id: str


def _story(service: Service) -> Story:
    operator = Client(service.target, Caller("operator", service.keys.signer(cfg.OPERATOR_KEY)))
    clients = {}
    kinds = {"hosp": registry_pb2.INSTITUTION_KIND_HOSPITAL, "doc": registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR}
    for org, kind in kinds.items():
        identity, enc = SigningKey.generate(), PrivateKey.generate()
        operator.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
            institution_id=org, display_name=org, kind=kind, identity_public_key=bytes(identity.verify_key),
            encryption_public_key=bytes(enc.public_key)))
        operator.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
            institution_id=org, practitioner_id="dr-x", roles=["physician"]))
        clients[org] = (Client(service.target, Caller("org:" + org, identity, role="physician", practitioner="dr-x")),
                        enc)
    patient_key, auditor_key = SigningKey.generate(), SigningKey.generate()
    operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
        patient_id="P-1", identity_public_key=bytes(patient_key.verify_key)))
    operator.registry.EnrollAuditor(registry_pb2.EnrollAuditorRequest(
        auditor_id="aud", identity_public_key=bytes(auditor_key.verify_key)))
    patient = Client(service.target, Caller("patient:P-1", patient_key))
    hospital, _ = clients["hosp"]
    for title, body in discharge_records("P-1").items():
        if title != "psychiatric note":
            hospital.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id="P-1", fhir_json=body))
    notice = operator.registry.PublishPrivacyNotice(registry_pb2.PublishPrivacyNoticeRequest(
        institution_id="doc", purposes=["TREAT"], categories=["discharge-summary", "medication", "lab"],
        texts=notice_texts("doc"))).ref
    granted = patient.consent.GrantConsent(consent_pb2.GrantConsentRequest(
        patient_id="P-1", grantee="doc", notice=notice, terms=consent_pb2.ConsentTerms(
            categories=["discharge-summary", "medication", "lab"], purposes=["TREAT"])))
    doctor, enc = clients["doc"]
    auditor = Client(service.target, Caller("auditor:aud", auditor_key))
    return Story(service.target, doctor, enc, patient, "P-1", auditor, granted.receipt, granted.consent.consent_id)


def _pinned(service: Service) -> VerifyKey:
    """The share-signing key as `consentry keys show` prints it for recipients to pin."""
    shown = ok(run("keys", "show", "--data-dir", str(service.data), env=service.env))
    return VerifyKey(base64.b64decode(shown[1].split()[-1]))


def _fetch(story: Story, pinned: VerifyKey, connection: int = 0) -> list:
    """One fetch by a fresh client (no key list kept from before), pinned to `pinned` only; each
    `connection` its own (channels with the same options would share one)."""
    with Client(story.target, story.doctor.caller, max_body_bytes=cfg.DEFAULT_MAX_BODY_BYTES + connection) as client:
        got = [r for r in client.fetch(story.patient_id, "TREAT", recipient_key=story.encryption,
                                       service_key=pinned) if r.shared]
    assert got
    return got


def _entries(story: Story, kind: str) -> list[dict]:
    page = story.auditor.audit.ListEntries(audit_pb2.ListEntriesRequest(start=0, page_size=1000))
    return [e for e in (json.loads(x.entry) for x in page.entries) if e.get("kind") == kind]


def _listed(client: Client) -> list[registry_pb2.ServiceSigningKey]:
    return list(client.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).share_signing_keys)


def _signed_by_new_key(story: Story, old: VerifyKey, deadline_s: float = 10) -> list:
    """Fetches until the server signs with a key other than `old` (it follows within a second)."""
    end = time.monotonic() + deadline_s
    while True:
        got = _fetch(story, old)
        try:
            old.verify(_signature_message(got[0]), got[0].package.signature)
        except nacl.exceptions.BadSignatureError:
            return got
        assert time.monotonic() < end, "the running server still signs with the old key"
        time.sleep(0.3)


def _signature_message(item) -> bytes:
    p = item.package
    return signature_message(p.header, p.ciphertext, p.sealed_key, p.version)


def test_a_recipient_pinned_to_the_old_key_follows_a_rotation_made_next_to_a_running_server(service):
    story = _story(service)
    old = _pinned(service)
    before = _fetch(story, old)

    rotated = run("keys", "rotate", "share-signing", "--data-dir", str(service.data), env=service.env)
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    new = _pinned(service)
    assert bytes(new) != bytes(old)
    assert f"share-signing key {signer_key_id(bytes(new))} is current" in rotated.stdout

    # The server was not restarted; it now signs with the new key, and a recipient who pinned
    # only the old key accepts the package through the endorsement.
    after = _signed_by_new_key(story, old)
    chain = story.doctor.service_keys(old)
    assert [k.public_key for k in chain.keys] == [bytes(old), bytes(new)]
    for item in (*before, *after):  # what each key signed verifies under the chain
        open_archived_share(item.package, service_verify_key=chain, recipient_private_key=story.encryption,
                            expected_recipient="doc")
    open_archived_share(before[0].package, service_verify_key=old, recipient_private_key=story.encryption,
                        expected_recipient="doc")  # and the old one alone, exactly as before
    with pytest.raises(SignatureInvalid):
        open_archived_share(after[0].package, service_verify_key=old, recipient_private_key=story.encryption,
                            expected_recipient="doc")

    listed = _listed(story.doctor)
    assert [(k.key_id, k.status) for k in listed] == [(signer_key_id(bytes(old)), "retired"),
                                                      (signer_key_id(bytes(new)), "current")]
    assert listed[0].valid_from == "1970-01-01T00:00:00Z" and listed[0].retired_at == listed[1].valid_from
    assert not listed[0].statement and listed[1].statement and not listed[1].revoked_from
    assert story.doctor.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).share_signing_public_key \
        == bytes(new)

    [entry] = _entries(story, "key.service_key_rotated")
    assert (entry["purpose"], entry["old_key_id"], entry["new_key_id"]) == (
        SHARE_SIGNING, signer_key_id(bytes(old)), signer_key_id(bytes(new)))
    assert entry["new_fingerprint"].startswith("SHA256:")

    # Receipts and exports: the one kept from before and those made after verify from the old pin.
    verify_consent_receipt(story.receipt, chain)
    receipts = story.patient.consent_receipts(story.consent_id, old)
    assert receipts and receipts[0][0].key_id != story.receipt.key_id  # re-signed by the new key
    pages = story.patient.export_records(story.patient_id, old)
    assert pages and pages[0].header["records"] >= 1


def test_every_worker_of_serve_workers_signs_with_the_new_key_within_a_second_or_two(workers):
    story = _story(workers)
    old = _pinned(workers)
    ok(run("keys", "rotate", "share-signing", "--data-dir", str(workers.data), env=workers.env))
    _signed_by_new_key(story, old)
    time.sleep(2 * service_keys.FOLLOW_EVERY_S)
    # Sixteen fresh connections: the kernel spreads them over both workers (all on one: 1 in 2**15).
    for connection in range(16):
        item = _fetch(story, old, connection)[0]
        with pytest.raises(nacl.exceptions.BadSignatureError):
            old.verify(_signature_message(item), item.package.signature)


def test_a_forged_endorsement_is_refused(service):
    story = _story(service)
    old = _pinned(service)
    evil = SigningKey.generate()
    # A statement naming the pinned key but signed by a key outside the chain, put in the list.
    statement = rotation_statement(SHARE_SIGNING, bytes(old), bytes(evil.verify_key), datetime.now(UTC))
    forged = endorse(statement, evil, evil)
    db = Database(service.url)
    try:
        with db.write() as s:
            s.add(ServiceSigningKey(purpose=SHARE_SIGNING, key_id=signer_key_id(bytes(evil.verify_key)),
                                    public_key=bytes(evil.verify_key), status="retired",
                                    valid_from_ns=time.time_ns(), statement=forged.statement,
                                    old_signature=forged.old_signature, new_signature=forged.new_signature))
    finally:
        db.dispose()
    client = Client(story.target, story.doctor.caller)
    with pytest.raises(SignatureInvalid, match="not signed by both its old and its new key"):
        list(client.fetch(story.patient_id, "TREAT", recipient_key=story.encryption, service_key=old))


def test_a_revocation_refuses_what_the_key_signed_from_then_on(service):
    story = _story(service)
    old = _pinned(service)
    before = _fetch(story, old)
    issued = datetime.strptime(before[0].header["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    revoked_from = issued + timedelta(seconds=1)  # after that package, before the rotation below
    old_id = signer_key_id(bytes(old))
    time.sleep(1.1)

    # The key is current: the command rotates it away first, then revokes it.
    revoked = run("keys", "revoke", "share-signing", old_id, "--from", revoked_from.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "--data-dir", str(service.data), env=service.env)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert "rotating it away first" in revoked.stdout
    listed = {k.key_id: k for k in _listed(story.doctor)}
    assert listed[old_id].status == "revoked" and listed[old_id].revoked_from == revoked_from.strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    [entry] = _entries(story, "key.service_key_revoked")
    assert entry["key_id"] == old_id and entry["revoked_from"] == listed[old_id].revoked_from

    chain = story.doctor.service_keys(old, refresh=True)
    # Signed before the revocation: still verifies.
    open_archived_share(before[0].package, service_verify_key=chain, recipient_private_key=story.encryption,
                        expected_recipient="doc")
    # Whoever holds the compromised key signs a package answering a live fetch after that time: refused.
    stolen = service.keys.retired_signers(cfg.SHARE_SIGNING_KEY)[old_id]
    nonce = secrets.token_bytes(32)
    now = datetime.now(UTC)
    forged = build_share(b"{}", record_id=before[0].record_id, category="lab", recipient="doc",
                         recipient_key_id=recipient_key_id(bytes(story.encryption.public_key)),
                         recipient_public_key=bytes(story.encryption.public_key), purpose="TREAT",
                         patient_ref=story.patient_id, fetch_nonce=nonce, ledger_seq=1, obligations=(),
                         signer=stolen, now=now)
    with pytest.raises(KeyRevoked, match="key revoked from"):
        open_share(forged, service_verify_key=chain, recipient_private_key=story.encryption, expected_recipient="doc",
                   expected=Expected(purpose="TREAT", patient_ref=story.patient_id, fetch_nonce=nonce, now=now))
    # Without the list the pinned key alone would have taken it: the revocation is what refuses it.
    open_share(forged, service_verify_key=old, recipient_private_key=story.encryption, expected_recipient="doc",
               expected=Expected(purpose="TREAT", patient_ref=story.patient_id, fetch_nonce=nonce, now=now))
    # The rotation came after the revocation time: the old key's endorsement is no evidence, so a
    # recipient still pinned to it is told to pin the current key, and one who did fetches.
    with pytest.raises(KeyRevoked, match="pin the service's current key"):
        _fetch(story, old)
    assert _fetch(story, _pinned(service))


def test_a_rotation_cut_short_is_finished_by_the_next_run(service):
    story = _story(service)
    old = _pinned(service)
    name, dd = cfg.SHARE_SIGNING_KEY, ["--data-dir", str(service.data)]
    # Crash after staging, before the record: the next run rotates to the staged key.
    staged = bytes(service.keys.stage_signer(name).verify_key)
    ok(run("keys", "rotate", "share-signing", *dd, env=service.env))
    assert _pinned(service) == VerifyKey(staged)
    # Crash after the record committed, before the promotion: the next run only promotes.
    second = service.keys.stage_signer(name)
    db = Database(service.url)
    try:
        with db.write() as s:
            service_keys.record_rotation(s, AuditTrail(pseudonym_secret(service.keys)), SHARE_SIGNING,
                                         service.keys.signer(name), second)
    finally:
        db.dispose()
    finished = run("keys", "rotate", "share-signing", *dd, env=service.env)
    assert finished.returncode == 0, finished.stderr
    assert "finishing the interrupted rotation" in finished.stdout
    assert _pinned(service) == second.verify_key
    # Two rotations, not three: each run finished the one it found.
    assert len(_entries(story, "key.service_key_rotated")) == 2
    assert [k.status for k in _listed(story.doctor)] == ["retired", "retired", "current"]
    chain = story.doctor.service_keys(old)
    assert chain.current.public_key == bytes(second.verify_key) and isinstance(chain, KeyChain)
    _signed_by_new_key(story, VerifyKey(staged))
