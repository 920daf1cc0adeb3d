"""A client built from docs/ alone: it reads the operator's key file by its documented format,
pins the service's keys from `consentry keys show` (checking the fingerprints), signs every call
with a token built by docs/identity.md, and opens the packages of a real fetch by
docs/share-format.md. It imports nothing from consentry.services: only the stubs of the public
API, PyJWT, cryptography, PyNaCl and rfc8785 (and the `consentry` command, as an operator runs it).
A rule the docs omit or misstate fails here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import jwt
import nacl.bindings
import nacl.exceptions
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.public import PrivateKey
from nacl.signing import VerifyKey

from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2

LAB = {"resourceType": "Observation", "status": "final", "code": {"text": "C reactive protein"},
       "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                 "code": "laboratory"}]}], "effectiveDateTime": "2026-11-19T08:30:00Z",
       "valueQuantity": {"value": 12, "unit": "mg/L"}}


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def read_key_file(path) -> tuple[str, bytes]:
    """docs/identity.md, "Key files": `consentry-key-v1 <kind> <base64 of 32 bytes>\\n`, mode 0600."""
    assert os.stat(path).st_mode & 0o077 == 0
    magic, kind, value = path.read_text().removesuffix("\n").split(" ")
    assert magic == "consentry-key-v1"
    raw = base64.b64decode(value, validate=True)
    assert len(raw) == 32
    return kind, raw


class DocCaller:
    """A principal that signs its calls as docs/identity.md says."""

    def __init__(self, principal: str, seed: bytes, **staff: str) -> None:
        self.principal, self.key, self.staff = principal, Ed25519PrivateKey.from_private_bytes(seed), staff
        public = self.key.public_key().public_bytes_raw()
        self.kid = "ed25519:" + sha256(b"consentry-ed25519-v1" + public)[:8].hex()

    def token(self, method: str, request: bytes, lifetime: int = 60, ahead: int = 0, **override) -> str:
        now = int(time.time()) + ahead  # `ahead`: issued that many seconds in the future
        claims = {"iss": self.principal, "aud": method, "iat": now, "exp": now + lifetime, "jti": secrets.token_hex(16),
                  "req": b64url(sha256(request)), **self.staff, **override}
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})

    def unary(self, channel: grpc.Channel, method: str, request, reply_type, **override):
        raw = request.SerializeToString()  # serialized once: the bytes hashed are the bytes sent
        call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=reply_type.FromString)
        return call(raw, metadata=[("authorization", "Bearer " + self.token(method, raw, **override))])

    def stream(self, channel: grpc.Channel, method: str, request, reply_type) -> Iterator:
        raw = request.SerializeToString()
        call = channel.unary_stream(method, request_serializer=lambda b: b, response_deserializer=reply_type.FromString)
        return call(raw, metadata=[("authorization", "Bearer " + self.token(method, raw))])


def keys_show(data_dir) -> dict[str, str]:
    """The operator's `consentry keys show`: what a recipient and an auditor are handed out of band."""
    out = subprocess.run([sys.executable, "-m", "consentry.services.cli.main", "keys", "show", "--data-dir",
                          str(data_dir)], capture_output=True, text=True, check=True, timeout=120).stdout
    lines = [line.strip() for line in out.splitlines()]
    value = {}
    for line in lines:
        if ":" in line and line.split(":", 1)[0] in ("public key", "verifier key", "fingerprint"):
            name, text = line.split(":", 1)
            value.setdefault(name, []).append(text.strip())
    return {"share": value["public key"][0], "share_fp": value["fingerprint"][0],
            "ledger": value["verifier key"][0], "ledger_fp": value["fingerprint"][1]}


def fingerprint(public: bytes) -> str:
    return "SHA256:" + base64.b64encode(sha256(public)).decode().rstrip("=")


def open_package(package, *, service_pk: bytes, own: PrivateKey, recipient: str, purpose: str, patient_ref: str,
                 nonce: bytes) -> tuple[dict, bytes]:
    """docs/share-format.md, "Opening a package", steps 1-8."""
    header, ciphertext, sealed, signature = package.header, package.ciphertext, package.sealed_key, package.signature
    assert len(signature) == 64 and len(sealed) == 80 and len(ciphertext) >= 40
    # A gRPC answer carries the current version, 3 ("In gRPC messages ... always the current version").
    message = b"consentry-share-v3\x00" + sha256(header) + sha256(ciphertext) + sha256(sealed)
    Ed25519PublicKey.from_public_bytes(service_pk).verify(signature, message)
    h = json.loads(header)
    assert h["v"] == 3 and rfc8785.dumps(h) == header and len(h) == 14 and h["redisclosure"] is None
    assert h["recipient"] == recipient
    assert h["recipient_key_id"] == sha256(b"consentry-x25519-v1" + bytes(own.public_key))[:8].hex()
    assert h["purpose"] == purpose and h["fetch_nonce"] == b64url(nonce)
    assert abs(time.mktime(time.strptime(h["time"], "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(time.gmtime())) < 300
    share_key = nacl.bindings.crypto_box_seal_open(sealed, bytes(own.public_key), bytes(own))
    binding = hmac.new(share_key, b"consentry-share-v2-patient\x00" + patient_ref.encode(), hashlib.sha256)
    assert h["patient_binding"] == binding.hexdigest()
    body = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext[24:], header, ciphertext[:24],
                                                                    share_key)
    return h, body


def verify_checkpoint(note: str, vkey: str) -> None:
    """docs/ledger.md, "Checkpoints": the log's signature line verifies under the pinned key."""
    name, key_id, raw = vkey.split("+", 2)  # the base64 may hold "+" too
    public = base64.b64decode(raw)[1:]
    assert sha256(name.encode() + b"\n\x01" + public)[:4].hex() == key_id
    body, _, signatures = note.partition("\n\n")
    for line in signatures.splitlines():
        signer, blob = line.removeprefix("— ").split(" ")
        data = base64.b64decode(blob)
        if signer == name and data[:4].hex() == key_id:
            Ed25519PublicKey.from_public_bytes(public).verify(data[4:], (body + "\n").encode())
            return
    raise AssertionError("no signature by the ledger key")


@pytest.fixture(scope="module")
def world(harness):
    data_dir = harness.settings.data_dir
    kind, seed = read_key_file(data_dir / "operator.key")
    assert kind == "ed25519"
    operator = DocCaller("operator", seed)
    channel = grpc.insecure_channel(harness.target)
    doctor_id = f"clinic-{secrets.token_hex(3)}"
    identity, encryption = Ed25519PrivateKey.generate(), PrivateKey.generate()
    registry = "/consentry.v1.RegistryService/"
    operator.unary(channel, registry + "RegisterInstitution", registry_pb2.RegisterInstitutionRequest(
        institution_id=doctor_id, display_name="Clinic B", kind=registry_pb2.INSTITUTION_KIND_CLINIC,
        identity_public_key=identity.public_key().public_bytes_raw(),
        encryption_public_key=bytes(encryption.public_key)), registry_pb2.RegisterInstitutionResponse)
    operator.unary(channel, registry + "RegisterPractitioner", registry_pb2.RegisterPractitionerRequest(
        institution_id=doctor_id, practitioner_id="dr-doc", roles=["physician"]),
        registry_pb2.RegisterPractitionerResponse)
    doctor = DocCaller("org:" + doctor_id, identity.private_bytes_raw(), role="physician", practitioner="dr-doc")
    hospital, patient = harness.org(), harness.patient()
    lab = {**LAB, "subject": {"reference": f"Patient/{patient.id}"}}
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id,
                                                                     fhir_json=json.dumps(lab).encode()))
    patient.client.consent.GrantConsent(consent_pb2.GrantConsentRequest(patient_id=patient.id, grantee=doctor_id,
        terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]),
        notice=harness.publish_notice(doctor_id)))
    yield channel, doctor_id, doctor, encryption, patient
    channel.close()


def test_the_pinned_keys_match_their_fingerprints_and_what_the_service_serves(harness, world):
    channel, _doctor_id, doctor, _encryption, _patient = world
    pinned = keys_show(harness.settings.data_dir)
    share = base64.b64decode(pinned["share"])
    assert pinned["share_fp"] == fingerprint(share)
    assert pinned["ledger_fp"] == fingerprint(base64.b64decode(pinned["ledger"].split("+", 2)[2])[1:])
    served = doctor.unary(channel, "/consentry.v1.RegistryService/GetServiceKeys",
                          registry_pb2.GetServiceKeysRequest(), registry_pb2.GetServiceKeysResponse)
    assert served.share_signing_public_key == share and served.ledger_verifier_key == pinned["ledger"]


def test_a_fetch_signed_and_opened_by_the_docs_alone(harness, world):
    channel, doctor_id, doctor, encryption, patient = world
    pinned = keys_show(harness.settings.data_dir)
    nonce = os.urandom(32)
    items = list(doctor.stream(channel, "/consentry.v1.ExchangeService/FetchRecords", exchange_pb2.FetchRecordsRequest(
        patient_id=patient.id, purpose="TREAT", nonce=nonce), exchange_pb2.FetchRecordsResponse))
    [item] = items
    header, body = open_package(item.shared.package, service_pk=base64.b64decode(pinned["share"]), own=encryption,
                                recipient=doctor_id, purpose="TREAT", patient_ref=patient.id, nonce=nonce)
    assert json.loads(body)["code"] == LAB["code"] and header["category"] == "lab"
    entry = json.loads(item.ledger_entry)
    assert entry["header_hash"] == sha256(item.shared.package.header).hex()
    checkpoint = doctor.unary(channel, "/consentry.v1.AuditService/GetCheckpoint",
                              audit_pb2.GetCheckpointRequest(refresh=True), audit_pb2.GetCheckpointResponse)
    verify_checkpoint(checkpoint.checkpoint.note, pinned["ledger"])


@pytest.mark.parametrize(("override", "rule"), [
    ({"iat": None}, "iat is required"),
    ({"jti": "x" * 15}, "jti is 16 to 64 characters"),
    ({"jti": "x" * 65}, "jti is 16 to 64 characters"),
    ({"lifetime": 301}, "lifetime at most 300 s"),
    ({"ahead": 120}, "not issued more than 30 s ahead"),
    ({"aud": ["/consentry.v1.RegistryService/GetServiceKeys"]}, "aud is one string"),
    ({"role": "surgeon"}, "a role the practitioner does not hold"),
    ({"practitioner": "dr/doc"}, "the practitioner's character set"),
    ({"req": b64url(sha256(b"other"))}, "req hashes the request bytes"),
])
def test_each_documented_token_rule_is_enforced(world, override, rule):
    channel, _doctor_id, doctor, _encryption, _patient = world
    with pytest.raises(grpc.RpcError) as err:
        doctor.unary(channel, "/consentry.v1.RegistryService/GetServiceKeys", registry_pb2.GetServiceKeysRequest(),
                     registry_pb2.GetServiceKeysResponse, **override)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, rule


def inclusion_root(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2, as docs/receipts.md step 3 names it."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        assert sn != 0
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0
    return r


def test_a_consent_receipt_verified_by_the_docs_alone(harness, world):
    """docs/receipts.md: the grantee lists a receipt and checks it, then its ledger position."""
    channel, doctor_id, doctor, _encryption, patient = world
    pinned = keys_show(harness.settings.data_dir)
    pk = base64.b64decode(pinned["share"])
    consents = doctor.unary(channel, "/consentry.v1.ConsentService/ListConsents", consent_pb2.ListConsentsRequest(
        patient_id=patient.id), consent_pb2.ListConsentsResponse).consents
    [receipt] = doctor.unary(channel, "/consentry.v1.ConsentService/ListConsentReceipts",
                             consent_pb2.ListConsentReceiptsRequest(consent_id=consents[0].consent_id),
                             consent_pb2.ListConsentReceiptsResponse).receipts
    assert receipt.key_id == "ed25519:" + sha256(b"consentry-ed25519-v1" + pk).hex()[:16]
    VerifyKey(pk).verify(b"consentry-consent-receipt/1\x00" + receipt.statement, receipt.signature)
    statement = json.loads(receipt.statement)
    assert rfc8785.dumps(statement) == receipt.statement
    assert statement["format"] == "consentry-consent-receipt/1" and statement["key_id"] == receipt.key_id
    assert set(statement) == {"format", "key_id", "change", "consent_id", "version", "patient_id", "grantee",
                              "signed_by", "authorization", "request_id", "terms", "notice", "time", "ledger"}
    assert (statement["change"], statement["patient_id"], statement["grantee"]) == ("grant", patient.id, doctor_id)
    assert statement["terms"]["categories"] == ["lab"] and statement["terms"]["purposes"] == ["TREAT"]
    with pytest.raises(nacl.exceptions.BadSignatureError):  # one changed byte must not verify
        VerifyKey(pk).verify(b"consentry-consent-receipt/1\x00" + receipt.statement[:-1] + b" ", receipt.signature)
    seq, leaf = statement["ledger"]["seq"], bytes.fromhex(statement["ledger"]["leaf_hash"])
    note = doctor.unary(channel, "/consentry.v1.AuditService/GetCheckpoint", audit_pb2.GetCheckpointRequest(
        refresh=True), audit_pb2.GetCheckpointResponse).checkpoint.note
    verify_checkpoint(note, pinned["ledger"])
    _origin, size, root = note.split("\n")[:3]
    assert int(size) > seq
    proof = doctor.unary(channel, "/consentry.v1.AuditService/GetInclusionProof", audit_pb2.GetInclusionProofRequest(
        seq=seq, tree_size=int(size)), audit_pb2.GetInclusionProofResponse)
    assert proof.leaf_hash == leaf
    assert inclusion_root(leaf, seq, int(size), list(proof.hashes)) == base64.b64decode(root)
