"""The share package: only the named recipient opens it, only as the answer to its own fetch, and
any change to it is rejected."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import nacl.exceptions
import nacl.public
import nacl.signing
import pytest
import rfc8785
from crypto_helpers import FETCH_NONCE, NOW, PATIENT, Institution, expected, make_package
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.services.crypto.errors import (
    CryptoError,
    DecryptionFailed,
    MalformedPackage,
    NotThisFetch,
    OutsideTimeWindow,
    SignatureInvalid,
    UnsupportedVersion,
    WrongFetchNonce,
    WrongPatient,
    WrongPurpose,
    WrongRecipient,
    WrongRecipientKey,
)
from consentry.services.crypto.share import (
    ShareKey,
    SharePackage,
    open_archived_share,
    open_share,
    recipient_key_id,
    signature_message,
)
from consentry.services.crypto.share_header import REDISCLOSURE_NOTICE

PARTS = ("header", "ciphertext", "sealed_key", "signature")
SECRET_BODY = b'{"resourceType":"Observation","note":"SECRET-MARKER-123"}'


def _open(pkg, service_key, who: Institution, name: str | None = None, **asked):
    return open_share(
        pkg,
        service_verify_key=service_key.verify_key,
        recipient_private_key=who.key,
        expected_recipient=name or who.name,
        expected=expected(**asked),
    )


def _resign(pkg: SharePackage, signer: nacl.signing.SigningKey, **changes) -> SharePackage:
    """What a forger (or a buggy server holding ``signer``) could produce."""
    pkg = dataclasses.replace(pkg, **changes)
    sig = signer.sign(signature_message(pkg.header, pkg.ciphertext, pkg.sealed_key, pkg.version)).signature
    return dataclasses.replace(pkg, signature=sig)


def _with_header(pkg: SharePackage, **fields) -> bytes:
    header = json.loads(pkg.header)
    header.update(fields)
    return rfc8785.dumps(header)


@pytest.fixture(scope="module")
def small_pkg(service_key, inst_a):
    return make_package(service_key, inst_a, body=b"tiny body")


# --- the happy path ---------------------------------------------------------------------------


def test_roundtrip_and_header_shape(service_key, inst_a):
    pkg = make_package(service_key, inst_a, body=SECRET_BODY, obligations=["redact", "pseudonymise"])
    opened = _open(pkg, service_key, inst_a)
    assert opened.body == SECRET_BODY
    h = opened.header
    assert set(h) == {
        "v", "share_id", "record_id", "category", "recipient", "recipient_key_id", "purpose",
        "patient_binding", "fetch_nonce", "ledger_seq", "obligations", "time", "content_type", "redisclosure",
    }
    assert h["redisclosure"] is None  # not a substance-use record
    assert h["v"] == 3 and h["recipient"] == inst_a.name == "hospital-a" and h["ledger_seq"] == 17
    assert h["category"] == "lab" and h["fetch_nonce"] == base64.urlsafe_b64encode(FETCH_NONCE).decode().rstrip("=")
    assert PATIENT not in pkg.header.decode()  # the binding names the patient only to the recipient
    assert h["obligations"] == ["pseudonymise", "redact"]  # sorted
    assert h["time"] == "2026-11-25T12:00:00Z"
    assert h["content_type"] == "application/fhir+json"
    assert pkg.header == rfc8785.dumps(h)
    assert pkg.header_hash == hashlib.sha256(pkg.header).hexdigest()
    assert pkg.ciphertext_hash == hashlib.sha256(pkg.ciphertext).hexdigest()
    assert len(pkg.sealed_key) == 80 and len(pkg.signature) == 64
    assert len(pkg.ciphertext) == 24 + len(SECRET_BODY) + 16
    assert "SECRET" not in repr(pkg) and "SECRET" not in repr(opened)


def test_time_is_converted_to_utc_and_truncated_to_seconds(service_key, inst_a):
    t = datetime(2026, 11, 25, 20, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=8)))
    pkg = make_package(service_key, inst_a, now=t)
    assert _open(pkg, service_key, inst_a).header["time"] == "2026-11-25T12:00:00Z"


def test_fresh_share_id_and_key_each_time(service_key, inst_a):
    p1, p2 = make_package(service_key, inst_a), make_package(service_key, inst_a)
    assert json.loads(p1.header)["share_id"] != json.loads(p2.header)["share_id"]
    assert p1.ciphertext != p2.ciphertext and p1.sealed_key != p2.sealed_key


def test_envelope_roundtrip(small_pkg):
    blob = small_pkg.to_bytes()
    assert blob[:4] == b"CSP\x03"
    assert SharePackage.from_bytes(blob) == small_pkg
    assert SharePackage.from_bytes(b"CSP\x01" + blob[4:]).version == 1  # an archived v1 blob
    assert SharePackage.from_bytes(b"CSP\x02" + blob[4:]).version == 2
    with pytest.raises(UnsupportedVersion):
        SharePackage.from_bytes(b"CSP\x04" + blob[4:])
    with pytest.raises(MalformedPackage):
        SharePackage.from_bytes(blob[:-1])
    with pytest.raises(MalformedPackage):
        SharePackage.from_bytes(blob + b"\x00")


def test_recipient_key_id_is_the_documented_derivation():
    pk = bytes(range(32))
    expected = hashlib.sha256(b"consentry-x25519-v1" + pk).digest()[:8].hex()
    assert recipient_key_id(pk) == expected and len(expected) == 16
    with pytest.raises(ValueError, match="32 bytes"):
        recipient_key_id(pk[:31])


def test_build_refuses_inconsistent_inputs(service_key, inst_a, inst_b):
    with pytest.raises(ValueError, match="does not match"):  # key id of B, public key of A
        make_package(service_key, inst_a, recipient_key_id=inst_b.key_id)
    with pytest.raises(ValueError, match="timezone-aware"):
        make_package(service_key, inst_a, now=datetime(2026, 11, 25, 12, 0, 0))  # naive
    with pytest.raises(ValueError, match="'ledger_seq' must be an integer"):
        make_package(service_key, inst_a, ledger_seq=-1)
    with pytest.raises(ValueError, match="'ledger_seq' must be an integer"):
        make_package(service_key, inst_a, ledger_seq=True)
    with pytest.raises(ValueError, match="'purpose' must be a non-empty string"):
        make_package(service_key, inst_a, purpose="")
    with pytest.raises(TypeError):
        make_package(service_key, inst_a, obligations="redact")


# --- wrong recipient --------------------------------------------------------------------------


def test_b_cannot_open_a_package(service_key, inst_a, inst_b):
    pkg = make_package(service_key, inst_a, body=SECRET_BODY)
    # B honestly names itself: refused by the header check.
    with pytest.raises(WrongRecipient) as e:
        _open(pkg, service_key, inst_b)
    assert "SECRET" not in str(e.value)
    # B claims to be A but only has its own key: refused by the key id check.
    with pytest.raises(WrongRecipientKey):
        _open(pkg, service_key, inst_b, name=inst_a.name)
    # B skips our checks entirely: the cryptography itself still says no.
    with pytest.raises(nacl.exceptions.CryptoError):
        nacl.public.SealedBox(inst_b.key).decrypt(pkg.sealed_key)


def test_wrong_expected_recipient_name(service_key, inst_a):
    pkg = make_package(service_key, inst_a)
    with pytest.raises(WrongRecipient):
        _open(pkg, service_key, inst_a, name="someone-else")
    with pytest.raises(WrongRecipient):  # the principal id is not the institution id the header names
        _open(pkg, service_key, inst_a, name="org:" + inst_a.name)


def test_rotated_recipient_key_is_reported_as_such(service_key, inst_a):
    pkg = make_package(service_key, inst_a)
    new_a = Institution(inst_a.name)  # same institution, new key pair after a rotation
    with pytest.raises(WrongRecipientKey):
        _open(pkg, service_key, new_a)


# --- tampering --------------------------------------------------------------------------------


def test_wrong_pinned_service_key(inst_a):
    real, other = nacl.signing.SigningKey.generate(), nacl.signing.SigningKey.generate()
    pkg = make_package(real, inst_a)
    with pytest.raises(SignatureInvalid):
        _open(pkg, other, inst_a)


def test_package_signed_by_another_key_is_rejected(service_key, inst_a):
    forger = nacl.signing.SigningKey.generate()
    pkg = make_package(service_key, inst_a)
    forged = _resign(pkg, forger, header=_with_header(pkg, purpose="HRESCH"))
    with pytest.raises(SignatureInvalid):
        _open(forged, service_key, inst_a)


@pytest.mark.parametrize("part", PARTS)
def test_every_single_bit_flip_is_rejected(service_key, inst_a, small_pkg, part):
    data = getattr(small_pkg, part)
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            bad = dataclasses.replace(small_pkg, **{part: bytes(flipped)})
            with pytest.raises(SignatureInvalid):
                _open(bad, service_key, inst_a)
    assert _open(small_pkg, service_key, inst_a).body == b"tiny body"  # the original still opens


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mutations_are_rejected(service_key, inst_a, small_pkg, data):
    part = data.draw(st.sampled_from(PARTS))
    raw = bytearray(getattr(small_pkg, part))
    kind = data.draw(st.sampled_from(["xor", "truncate", "append"]))
    if kind == "xor":
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
        if bytes(raw) == getattr(small_pkg, part):  # two flips cancelled out
            return
    elif kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        raw += data.draw(st.binary(min_size=1, max_size=8))
    with pytest.raises(CryptoError):
        _open(dataclasses.replace(small_pkg, **{part: bytes(raw)}), service_key, inst_a)


@pytest.mark.parametrize(("field", "value"), [("recipient", "clinic-b"), ("purpose", "HRESCH"),
                                         ("ledger_seq", 18), ("record_id", "rec-43"), ("category", "genetic"),
                                         ("patient_binding", "0" * 64), ("fetch_nonce", "A" * 43)])
def test_tampered_header_fields_are_rejected(service_key, inst_a, field, value):
    pkg = make_package(service_key, inst_a)
    bad = dataclasses.replace(pkg, header=_with_header(pkg, **{field: value}))
    with pytest.raises(SignatureInvalid):
        _open(bad, service_key, inst_a)


def test_signature_is_checked_before_the_header_is_parsed(service_key, inst_a, small_pkg):
    bad = dataclasses.replace(small_pkg, header=b"not json at all")
    with pytest.raises(SignatureInvalid):
        _open(bad, service_key, inst_a)


# --- defence in depth: even a validly signed but wrong package does not open ------------------
# (simulates a buggy or compromised signer: each later layer still holds on its own)


def test_resigned_purpose_change_fails_aead(service_key, inst_a):
    pkg = make_package(service_key, inst_a)
    bad = _resign(pkg, service_key, header=_with_header(pkg, purpose="HRESCH"))
    with pytest.raises(WrongPurpose):
        _open(bad, service_key, inst_a)
    with pytest.raises(DecryptionFailed):  # even asked for that purpose: the header is the AAD of the body
        _open(bad, service_key, inst_a, purpose="HRESCH")


def test_resigned_recipient_change_is_wrong_recipient(service_key, inst_a):
    pkg = make_package(service_key, inst_a)
    bad = _resign(pkg, service_key, header=_with_header(pkg, recipient="clinic-b"))
    with pytest.raises(WrongRecipient):
        _open(bad, service_key, inst_a)


def test_resigned_ciphertext_change_fails_aead(service_key, inst_a):
    pkg = make_package(service_key, inst_a)
    ct = bytearray(pkg.ciphertext)
    ct[30] ^= 1
    with pytest.raises(DecryptionFailed):
        _open(_resign(pkg, service_key, ciphertext=bytes(ct)), service_key, inst_a)


def test_resigned_sealed_key_change_fails_unsealing(service_key, inst_a):
    pkg = make_package(service_key, inst_a)
    sk = bytearray(pkg.sealed_key)
    sk[40] ^= 1
    with pytest.raises(DecryptionFailed):
        _open(_resign(pkg, service_key, sealed_key=bytes(sk)), service_key, inst_a)


def test_unknown_version_is_refused(service_key, inst_a):
    pkg = make_package(service_key, inst_a)
    with pytest.raises(UnsupportedVersion):  # the header claims another version than its signature
        _open(_resign(pkg, service_key, header=_with_header(pkg, v=4)), service_key, inst_a)
    with pytest.raises(UnsupportedVersion):
        _open(dataclasses.replace(pkg, version=4), service_key, inst_a)


def test_a_live_package_must_bind_its_fetch(service_key, inst_a):
    """Version 1 binds no fetch: refused when just received, whatever the package claims."""
    pkg = make_package(service_key, inst_a)
    v1 = _resign(pkg, service_key, version=1)  # a v1-domain signature over these bytes
    with pytest.raises(UnsupportedVersion):
        _open(v1, service_key, inst_a)
    with pytest.raises(SignatureInvalid):  # passed off as v2 or v3: a v1 signature verifies as neither
        _open(dataclasses.replace(v1, version=2), service_key, inst_a)
    with pytest.raises(SignatureInvalid):
        _open(dataclasses.replace(v1, version=3), service_key, inst_a)


@pytest.mark.parametrize("mutate", [
    lambda h: h.replace(b'{"category"', b'{ "category"'),                  # whitespace
    lambda h: h[:-1] + b',"v":3}',                                         # duplicate key
    lambda h: h.replace(b'"purpose":"TREAT"', b'"purpose":"TRE\\u0041T"'),  # escaped
])
def test_non_canonical_header_is_refused_even_if_signed(service_key, inst_a, mutate):
    pkg = make_package(service_key, inst_a)
    bad = _resign(pkg, service_key, header=mutate(pkg.header))
    with pytest.raises(MalformedPackage):
        _open(bad, service_key, inst_a)


@pytest.mark.parametrize("fields", [{"extra": 1}, {"time": "2026-11-25 12:00:00"},
                                    {"ledger_seq": "17"}, {"obligations": ["b", "a"]},
                                    {"share_id": "not-a-uuid"}, {"category": ""},
                                    {"patient_binding": "AB" * 32}, {"fetch_nonce": "AAAA"},
                                    {"fetch_nonce": "A" * 42 + "B"}, {"fetch_nonce": "A" * 42 + "=="}])
def test_invalid_header_fields_are_refused_even_if_signed(service_key, inst_a, fields):
    pkg = make_package(service_key, inst_a)
    with pytest.raises(MalformedPackage):
        _open(_resign(pkg, service_key, header=_with_header(pkg, **fields)), service_key, inst_a)


def test_error_messages_never_contain_plaintext(service_key, inst_a, inst_b):
    pkg = make_package(service_key, inst_a, body=SECRET_BODY)
    bad = _resign(pkg, service_key, header=_with_header(pkg, purpose="X"))
    for attempt in (lambda: _open(bad, service_key, inst_a), lambda: _open(pkg, service_key, inst_b)):
        with pytest.raises(CryptoError) as e:
            attempt()
        assert "SECRET" not in str(e.value) and e.value.explanation in str(e.value)


# --- the fetch a package answers ---------------------------------------------------------------


def test_the_patient_binding_is_the_documented_hmac(service_key, inst_a):
    pkg = make_package(service_key, inst_a)
    share_key = nacl.public.SealedBox(inst_a.key).decrypt(pkg.sealed_key)
    mac = hmac.new(share_key, b"consentry-share-v2-patient\x00" + PATIENT.encode(), hashlib.sha256).hexdigest()
    assert json.loads(pkg.header)["patient_binding"] == mac


@pytest.mark.parametrize(("asked", "error"), [
    ({"purpose": "HRESCH"}, WrongPurpose),
    ({"fetch_nonce": bytes(32)}, WrongFetchNonce),
    ({"fetch_nonce": FETCH_NONCE[:16]}, WrongFetchNonce),
    ({"now": NOW + timedelta(minutes=5, seconds=1)}, OutsideTimeWindow),     # stale
    ({"now": NOW - timedelta(minutes=5, seconds=1)}, OutsideTimeWindow),     # from the future
    ({"now": NOW + timedelta(seconds=30), "window": timedelta(seconds=10)}, OutsideTimeWindow),
    ({"patient_ref": "P-2"}, WrongPatient),
    ({"patient_ref": PATIENT + " "}, WrongPatient),
])
def test_a_package_for_another_fetch_is_refused(service_key, inst_a, asked, error):
    pkg = make_package(service_key, inst_a, body=SECRET_BODY)
    with pytest.raises(error) as e:
        _open(pkg, service_key, inst_a, **asked)
    assert isinstance(e.value, NotThisFetch) and "SECRET" not in str(e.value)


def test_the_time_window_includes_its_edges(service_key, inst_a):
    pkg = make_package(service_key, inst_a)
    for now in (NOW - timedelta(minutes=5), NOW + timedelta(minutes=5), NOW + timedelta(seconds=59)):
        assert _open(pkg, service_key, inst_a, now=now).body == b'{"resourceType":"Basic"}'


def test_expected_needs_an_aware_clock(service_key, inst_a):
    pkg = make_package(service_key, inst_a)
    with pytest.raises(TypeError):
        _open(pkg, service_key, inst_a, now=NOW.replace(tzinfo=None))


def test_build_refuses_a_fetch_nonce_of_the_wrong_size(service_key, inst_a):
    for nonce in (bytes(15), bytes(65)):
        with pytest.raises(ValueError, match="16 to 64 bytes"):
            make_package(service_key, inst_a, fetch_nonce=nonce)


def test_an_archived_package_opens_without_its_fetch(service_key, inst_a, inst_b):
    pkg = make_package(service_key, inst_a)
    opened = open_archived_share(pkg, service_verify_key=service_key.verify_key, recipient_private_key=inst_a.key,
                                 expected_recipient=inst_a.name)
    assert opened.body == b'{"resourceType":"Basic"}' and opened.header["v"] == 3
    with pytest.raises(WrongRecipient):  # the recipient, key and signature are still checked
        open_archived_share(pkg, service_verify_key=service_key.verify_key, recipient_private_key=inst_b.key,
                            expected_recipient=inst_b.name)
    with pytest.raises(UnsupportedVersion):
        open_archived_share(dataclasses.replace(pkg, version=4), service_verify_key=service_key.verify_key,
                            recipient_private_key=inst_a.key, expected_recipient=inst_a.name)


SCOPE = {"consent_id": "0b5c8a5e-2f0c-4c43-9d8e-6f1d2b9b7a10", "version": 2, "categories": ["lab", "substance-use"],
         "purposes": ["TREAT"], "excepted": [], "valid_until": "2027-11-25T12:00:00Z"}


def test_a_part2_share_carries_the_redisclosure_notice_and_scope_under_the_signature(service_key, inst_a):
    redisclosure = {"notice": REDISCLOSURE_NOTICE, "consents": [SCOPE]}
    pkg = make_package(service_key, inst_a, category="substance-use", redisclosure=redisclosure)
    opened = _open(pkg, service_key, inst_a)
    assert opened.header["redisclosure"] == redisclosure
    assert "42 CFR part 2" in pkg.header.decode()
    forged = dataclasses.replace(pkg, header=pkg.header.replace(b"substance-use", b"lab-only-here"))
    with pytest.raises(SignatureInvalid):  # the notice and scope are signed with the package
        _open(forged, service_key, inst_a)


@pytest.mark.parametrize("redisclosure", [
    {"notice": "Please keep this private.", "consents": [SCOPE]},
    {"notice": REDISCLOSURE_NOTICE, "consents": []},
    {"notice": REDISCLOSURE_NOTICE, "consents": [{**SCOPE, "valid_until": 5}]},
    {"notice": REDISCLOSURE_NOTICE, "consents": [{k: v for k, v in SCOPE.items() if k != "purposes"}]},
    {"notice": REDISCLOSURE_NOTICE},
    "42 CFR part 2",
], ids=["paraphrased notice", "no consent", "bad expiry", "scope without purposes", "no consents", "a string"])
def test_a_redisclosure_is_the_verbatim_notice_with_a_scope_or_nothing(service_key, inst_a, redisclosure):
    with pytest.raises(ValueError, match="redisclosure"):
        make_package(service_key, inst_a, redisclosure=redisclosure)


def test_a_share_key_made_ahead_opens_like_one_made_in_place(service_key):
    """The fetch seals each share key before it takes the ledger's lock: same package, same checks."""
    doctor = Institution("doctor")
    pkg = make_package(service_key, doctor, SECRET_BODY, share_key=ShareKey.for_recipient(doctor.public))
    assert _open(pkg, service_key, doctor).body == SECRET_BODY


def test_a_share_key_sealed_to_another_recipient_is_refused(service_key):
    doctor, insurer = Institution("doctor"), Institution("insurer")
    with pytest.raises(ValueError, match="sealed to another key"):
        make_package(service_key, doctor, SECRET_BODY, share_key=ShareKey.for_recipient(insurer.public))
