"""Our wrappers checked against something other than themselves.

- Ed25519: the RFC 8032 section 7.1 vectors (vectors/ed25519_rfc8032.txt), byte-exact, with
  PyNaCl (libsodium, what the service uses) and with `cryptography` (OpenSSL).
- Sealed box: a published libsodium reference ciphertext opens; and our sealed keys open with an
  independent construction (cryptography X25519, hashlib BLAKE2b nonce, crypto_box_afternm).
- XChaCha20-Poly1305: the draft-irtf-cfrg-xchacha-03 A.3.1 vector; and our ciphertexts open with an
  independent construction (pure-Python HChaCha20 + cryptography's ChaCha20-Poly1305), itself
  pinned by the draft's HChaCha20 vector (section 2.2.1).
- Whole share packages opened by a client written only from docs/share-format.md: one a real
  server sent over gRPC, and the published vectors (vectors/share_v2.txt; vectors/share_v1.txt,
  which only the archive reader accepts).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.bindings
import nacl.public
import nacl.signing
import pytest
import rfc8785
from crypto_helpers import FETCH_NONCE, NOW, PATIENT, Institution, make_package
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from harness import grant

from consentry.services.cli.demo import discharge_records
from consentry.services.crypto.at_rest import RecordMeta, seal_record
from consentry.services.crypto.errors import SignatureInvalid, UnsupportedVersion
from consentry.services.crypto.kek import LocalKekProvider
from consentry.services.crypto.share import (
    Expected,
    SharePackage,
    open_archived_share,
    open_share,
    recipient_key_id,
)
from consentry.v1 import exchange_pb2, registry_pb2

VECTORS = Path(__file__).parent / "vectors"


def _ed25519_vectors():
    lines = (VECTORS / "ed25519_rfc8032.txt").read_text().splitlines()
    assert lines[0] == "# consentry-vectors-v1 ed25519"
    out = []
    for line in lines:
        if line and not line.startswith("#"):
            name, sk, pk, msg, sig = line.split(" ")
            out.append(pytest.param(bytes.fromhex(sk), bytes.fromhex(pk),
                                    b"" if msg == "-" else bytes.fromhex(msg), bytes.fromhex(sig), id=name))
    return out


ED25519 = _ed25519_vectors()


def test_vector_file_has_the_rfc_tests():
    assert [p.id for p in ED25519] == ["TEST-1", "TEST-2", "TEST-3", "TEST-1024", "TEST-SHA(abc)"]
    assert len(ED25519[3].values[2]) == 1023
    assert ED25519[4].values[2] == hashlib.sha512(b"abc").digest()


@pytest.mark.parametrize(("sk", "pk", "msg", "sig"), ED25519)
def test_ed25519_rfc8032_pynacl(sk, pk, msg, sig):
    key = nacl.signing.SigningKey(sk)
    assert bytes(key.verify_key) == pk
    assert key.sign(msg).signature == sig
    key.verify_key.verify(msg, sig)


@pytest.mark.parametrize(("sk", "pk", "msg", "sig"), ED25519)
def test_ed25519_rfc8032_cryptography(sk, pk, msg, sig):
    key = Ed25519PrivateKey.from_private_bytes(sk)
    assert key.public_key().public_bytes_raw() == pk
    assert key.sign(msg) == sig
    Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)


# --- sealed box -------------------------------------------------------------------------------


def _sealed_box_vectors():
    lines = (VECTORS / "sealed_box_ref.txt").read_text().splitlines()
    rows = [line for line in lines if line and line[0] != "#"]
    return [tuple(bytes.fromhex(f) for f in row.split("\t")) for row in rows]


@pytest.mark.parametrize(("sk", "pk", "pt", "ct"), _sealed_box_vectors())
def test_sealed_box_reference_vector_opens(sk, pk, pt, ct):
    key = nacl.public.PrivateKey(sk)
    assert bytes(key.public_key) == pk
    assert nacl.public.SealedBox(key).decrypt(ct) == pt
    assert _independent_unseal(sk, ct) == pt


def _independent_unseal(recipient_sk: bytes, sealed: bytes) -> bytes:
    """crypto_box_seal_open from its definition: ephemeral pk | crypto_box(m, nonce, epk, rsk),
    nonce = BLAKE2b-192(epk | rpk). The X25519 step is done by OpenSSL (cryptography)."""
    epk, box = sealed[:32], sealed[32:]
    rsk = X25519PrivateKey.from_private_bytes(recipient_sk)
    rpk = rsk.public_key().public_bytes_raw()
    shared = rsk.exchange(X25519PublicKey.from_public_bytes(epk))
    assert shared == nacl.bindings.crypto_scalarmult(recipient_sk, epk)
    nonce = hashlib.blake2b(epk + rpk, digest_size=24).digest()
    key = nacl.bindings.crypto_box_beforenm(epk, recipient_sk)  # = HSalsa20(shared, 0)
    return nacl.bindings.crypto_box_open_afternm(box, nonce, key)


def test_our_sealed_keys_open_with_the_independent_construction(service_key):
    inst = Institution("org:x")
    pkg = make_package(service_key, inst)
    share_key = _independent_unseal(bytes(inst.key), pkg.sealed_key)
    assert len(share_key) == 32
    assert nacl.public.SealedBox(inst.key).decrypt(pkg.sealed_key) == share_key


# --- XChaCha20-Poly1305 -----------------------------------------------------------------------

XCHACHA_KEY = bytes(range(0x80, 0xA0))
XCHACHA_NONCE = bytes(range(0x40, 0x58))
XCHACHA_AAD = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
XCHACHA_PT = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
              b"future, sunscreen would be it.")
XCHACHA_CT_TAG = bytes.fromhex(
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
    "21f9664c97637da9768812f615c68b13b52e"
    "c0875924c1c7987947deafd8780acf49"
)


def _rotl(v: int, c: int) -> int:
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


# One ChaCha double round: four column quarter rounds, then four diagonal ones (RFC 8439 2.3).
_DOUBLE_ROUND = ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
                 (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14))


def _hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (draft-irtf-cfrg-xchacha section 2.2), written from the spec."""
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def qr(a: int, b: int, c: int, d: int) -> None:
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl(s[b] ^ s[c], 7)

    for _ in range(10):
        for a, b, c, d in _DOUBLE_ROUND:
            qr(a, b, c, d)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def _independent_xchacha_decrypt(key: bytes, nonce24: bytes, ct_tag: bytes, aad: bytes) -> bytes:
    subkey = _hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(subkey).decrypt(b"\x00" * 4 + nonce24[16:], ct_tag, aad)


def test_hchacha20_draft_vector():
    out = _hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927"))
    assert out.hex() == "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"


def test_xchacha20poly1305_draft_vector_a31():
    enc = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt
    assert enc(XCHACHA_PT, XCHACHA_AAD, XCHACHA_NONCE, XCHACHA_KEY) == XCHACHA_CT_TAG
    assert _independent_xchacha_decrypt(XCHACHA_KEY, XCHACHA_NONCE, XCHACHA_CT_TAG, XCHACHA_AAD) == XCHACHA_PT


def test_at_rest_ciphertext_opens_with_the_independent_construction():
    kek_key = os.urandom(32)
    kek = LocalKekProvider(kek_key)
    meta = RecordMeta("patient-1", "hospital-a", "mental-health", ("PSY", "ETH"), 3)
    sealed = seal_record("rec-7", b"body bytes", kek, meta)
    # Unwrap by hand, from the layout documented in kek.py.
    w = sealed.wrapped_key
    end = 2 + w[1]
    aad = b"consentry-kek-wrap-v1\x00" + w[:end] + b"consentry-record-key-v1\x00rec-7"
    data_key = _independent_xchacha_decrypt(kek_key, w[end:end + 24], w[end + 24:], aad)
    ct = sealed.ciphertext
    assert ct[0] == 2
    # The AAD of format version 2, written out from its layout in at_rest.py: u16 lengths, the
    # labels sorted, the metadata version as a u64, every integer big-endian.
    aad = (b"consentry-record-v2\x00" + b"\x00\x05rec-7" + b"\x00\x09patient-1" + b"\x00\x0ahospital-a"
           + b"\x00\x0dmental-health" + b"\x00\x02" + b"\x00\x03ETH" + b"\x00\x03PSY" + (3).to_bytes(8, "big"))
    body = _independent_xchacha_decrypt(data_key, ct[1:25], ct[25:], aad)
    assert body == b"body bytes"


# --- a client written from docs/share-format.md only ------------------------------------------

V2_MEMBERS = {"v", "share_id", "record_id", "category", "recipient", "recipient_key_id", "purpose",
              "patient_binding", "fetch_nonce", "ledger_seq", "obligations", "time", "content_type"}
V1_MEMBERS = V2_MEMBERS - {"category", "patient_binding", "fetch_nonce"}
V3_MEMBERS = V2_MEMBERS | {"redisclosure"}
MEMBERS = {1: V1_MEMBERS, 2: V2_MEMBERS, 3: V3_MEMBERS}


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _opened_header(fields: dict[str, bytes], service_pk: bytes, recipient_sk: bytes, recipient: str,
                   version: int) -> dict:
    """Steps 1-4 of "Opening a package": lengths, signature, header, recipient and key."""
    header, ciphertext, sealed_key, signature = (fields[n] for n in ("header", "ciphertext", "sealed_key", "signature"))
    assert len(signature) == 64 and len(sealed_key) == 80 and len(ciphertext) >= 40
    # Signature first, with OpenSSL's Ed25519 and the pinned service public key.
    msg = (f"consentry-share-v{version}".encode() + b"\x00" + _sha256(header) + _sha256(ciphertext)
           + _sha256(sealed_key))
    assert len(msg) == 115
    Ed25519PublicKey.from_public_bytes(service_pk).verify(signature, msg)
    h = json.loads(header)
    assert rfc8785.dumps(h) == header and h["v"] == version
    assert set(h) == MEMBERS[version]
    own_pk = X25519PrivateKey.from_private_bytes(recipient_sk).public_key().public_bytes_raw()
    assert h["recipient"] == recipient
    assert h["recipient_key_id"] == _sha256(b"consentry-x25519-v1" + own_pk)[:8].hex()
    return h


def _independent_open(fields: dict[str, bytes], *, service_pk: bytes, recipient_sk: bytes, recipient: str,
                      purpose: str, patient_ref: str, fetch_nonce: bytes, now: datetime,
                      version: int = 3) -> tuple[dict, bytes]:
    """A version 2 or 3 package opened by the steps of docs/share-format.md, with OpenSSL
    (cryptography), hashlib, hmac and the hand-written HChaCha20 above: no Consentry code."""
    h = _opened_header(fields, service_pk, recipient_sk, recipient, version)
    # 5. The fetch this package answers: purpose, our nonce, and an issue time near our clock.
    assert h["purpose"] == purpose
    assert h["fetch_nonce"] == base64.urlsafe_b64encode(fetch_nonce).rstrip(b"=").decode()
    issued = datetime.strptime(h["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert now - timedelta(minutes=5) <= issued <= now + timedelta(minutes=5)
    # 6. Unseal; 7. the patient binding under the share key; 8. decrypt with AAD = the header bytes.
    share_key = _independent_unseal(recipient_sk, fields["sealed_key"])
    binding = hmac.new(share_key, b"consentry-share-v2-patient\x00" + patient_ref.encode(), hashlib.sha256)
    assert h["patient_binding"] == binding.hexdigest()
    ct = fields["ciphertext"]
    return h, _independent_xchacha_decrypt(share_key, ct[:24], ct[24:], fields["header"])


def _fields(pkg) -> dict[str, bytes]:
    return {n: bytes(getattr(pkg, n)) for n in ("header", "ciphertext", "sealed_key", "signature")}


def test_independent_client_opens_a_share(service_key):
    inst = Institution("independent")
    body = b'{"resourceType":"Observation","status":"final"}'
    pkg = make_package(service_key, inst, body=body)
    header, opened = _independent_open(_fields(pkg), service_pk=bytes(service_key.verify_key),
                                       recipient_sk=bytes(inst.key), recipient=inst.name, purpose="TREAT",
                                       patient_ref=PATIENT, fetch_nonce=FETCH_NONCE, now=NOW)
    assert opened == body and header["recipient_key_id"] == recipient_key_id(inst.public)


def test_independent_client_opens_what_a_real_server_sends(harness):
    """A fetch over gRPC with a nonce of our own; every package opened by the doc's steps alone,
    addressed to the institution id as registered (no "org:" prefix)."""
    hospital, patient = harness.org(), harness.patient()
    doctor = harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, practitioner="dr-indie")
    deposited = {}
    for title, body in discharge_records(patient.id).items():
        if title != "psychiatric note":
            reply = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id,
                                                                                     fhir_json=body))
            deposited[reply.record.record_id] = (reply.record.category, body)
    grant(patient, doctor, ["discharge-summary", "medication", "lab"])
    nonce = os.urandom(24)
    items = list(doctor.client.exchange.FetchRecords(exchange_pb2.FetchRecordsRequest(
        patient_id=patient.id, purpose="TREAT", nonce=nonce)))
    assert len(items) == 3 and all(item.HasField("shared") for item in items)
    service_pk = bytes(harness.service_key)
    for item in items:
        header, body = _independent_open(
            _fields(item.shared.package), service_pk=service_pk, recipient_sk=bytes(doctor.encryption),
            recipient=doctor.id, purpose="TREAT", patient_ref=patient.id, fetch_nonce=nonce, now=datetime.now(UTC))
        assert (header["category"], body) == deposited[header["record_id"]]
        assert header["ledger_seq"] == item.ledger_seq and header["obligations"] == []
        assert header["v"] == 3 and header["redisclosure"] is None  # none of them is substance-use
        # The ledger entry that came with it names this very header and ciphertext.
        entry = json.loads(item.ledger_entry)
        assert entry["header_hash"] == _sha256(item.shared.package.header).hex()
        assert entry["ciphertext_hash"] == _sha256(item.shared.package.ciphertext).hex()


def _vector(name: str) -> dict[str, str]:
    lines = (VECTORS / name).read_text().splitlines()
    assert lines[0] == "# consentry-vectors-v1 " + name.removesuffix(".txt").replace("_", "-")
    return dict(line.split(" ", 1) for line in lines if line and not line.startswith("#"))


def test_share_v2_vector_opens_with_the_reference_and_the_independent_client():
    v = _vector("share_v2.txt")
    fields = {n: bytes.fromhex(v[n]) for n in ("header", "ciphertext", "sealed_key", "signature")}
    service_pk, recipient_sk = bytes.fromhex(v["service_public_key"]), bytes.fromhex(v["recipient_private_key"])
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    header, body = _independent_open(fields, service_pk=service_pk, recipient_sk=recipient_sk,
                                     recipient=v["recipient"], purpose=v["purpose"], patient_ref=v["patient_ref"],
                                     fetch_nonce=bytes.fromhex(v["fetch_nonce"]), now=now, version=2)
    assert body == bytes.fromhex(v["body"]) and header["time"] == "2026-11-25T12:00:00Z"
    assert _independent_unseal(recipient_sk, fields["sealed_key"]) == bytes.fromhex(v["share_key"])
    pkg = SharePackage.from_bytes(bytes.fromhex(v["envelope"]))
    assert pkg == SharePackage(**fields, version=2) and pkg.version == 2
    expected = Expected(purpose=v["purpose"], patient_ref=v["patient_ref"],
                        fetch_nonce=bytes.fromhex(v["fetch_nonce"]), now=now)
    opened = open_share(pkg, service_verify_key=nacl.signing.VerifyKey(service_pk),
                        recipient_private_key=nacl.public.PrivateKey(recipient_sk), expected_recipient=v["recipient"],
                        expected=expected)
    assert opened.body == body and opened.header == header


def test_share_v1_vector_is_read_from_an_archive_only():
    v = _vector("share_v1.txt")
    fields = {n: bytes.fromhex(v[n]) for n in ("header", "ciphertext", "sealed_key", "signature")}
    service_pk, recipient_sk = bytes.fromhex(v["service_public_key"]), bytes.fromhex(v["recipient_private_key"])
    header = _opened_header(fields, service_pk, recipient_sk, v["recipient"], 1)
    share_key = _independent_unseal(recipient_sk, fields["sealed_key"])
    ct = fields["ciphertext"]
    body = _independent_xchacha_decrypt(share_key, ct[:24], ct[24:], fields["header"])
    assert body == bytes.fromhex(v["body"]) and header["recipient"] == "clinic-b"
    pkg = SharePackage.from_bytes(bytes.fromhex(v["envelope"]))
    assert pkg == SharePackage(**fields, version=1)
    keys = {"service_verify_key": nacl.signing.VerifyKey(service_pk),
            "recipient_private_key": nacl.public.PrivateKey(recipient_sk), "expected_recipient": "clinic-b"}
    assert open_archived_share(pkg, **keys).body == body
    expected = Expected(purpose="TREAT", patient_ref="P-1042", fetch_nonce=bytes(16),
                        now=datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC))
    with pytest.raises(UnsupportedVersion):  # it binds no fetch: never accepted as a live answer
        open_share(pkg, **keys, expected=expected)
    with pytest.raises(SignatureInvalid):  # nor when passed off as version 2
        open_share(dataclasses.replace(pkg, version=2), **keys, expected=expected)
