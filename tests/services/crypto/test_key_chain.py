"""Following the share-signing key from a pinned key through rotation statements
(docs/share-format.md, "Key rotation"), offline: what each key signed verifies under the chain,
a forged or tampered statement is refused, a revocation refuses what the key signed from then on
and cuts the chain where the revoked key endorsed after it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import nacl.signing
import pytest

from consentry.ledger.canonical import canonical_json
from consentry.services.crypto import receipts
from consentry.services.crypto.errors import KeyRevoked, SignatureInvalid, UnsupportedVersion
from consentry.services.crypto.key_chain import (
    ROTATION_DOMAIN,
    SHARE_SIGNING,
    Endorsement,
    KeyChain,
    endorse,
    rotation_statement,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def _rotation(old: nacl.signing.SigningKey, new: nacl.signing.SigningKey, when: datetime = T0) -> Endorsement:
    return endorse(rotation_statement(SHARE_SIGNING, bytes(old.verify_key), bytes(new.verify_key), when), old, new)


def test_the_statement_is_the_documented_canonical_json_signed_by_both_keys():
    old, new = _key(), _key()
    e = _rotation(old, new)
    assert json.loads(e.statement) == {"type": "consentry.key-rotation", "v": 1, "purpose": "share-signing",
                                       "old_key": base64.b64encode(bytes(old.verify_key)).decode(),
                                       "new_key": base64.b64encode(bytes(new.verify_key)).decode(),
                                       "time": "2026-11-30T12:00:00Z"}
    old.verify_key.verify(b"consentry-key-rotation-v1\x00" + e.statement, e.old_signature)
    new.verify_key.verify(ROTATION_DOMAIN + e.statement, e.new_signature)


def test_a_pinned_key_follows_two_rotations_and_each_key_verifies_what_it_signed():
    k1, k2, k3 = _key(), _key(), _key()
    chain = KeyChain.follow(k1.verify_key, [_rotation(k1, k2), _rotation(k2, k3, T0 + timedelta(days=1))])
    assert [k.public_key for k in chain.keys] == [bytes(k.verify_key) for k in (k1, k2, k3)]
    for key in (k1, k2, k3):
        assert chain.verify(b"m", key.sign(b"m").signature).public_key == bytes(key.verify_key)
    with pytest.raises(SignatureInvalid):
        chain.verify(b"m", _key().sign(b"m").signature)
    # Pinned to the middle key: the older one is not trusted, the newer is.
    later = KeyChain.follow(k2.verify_key, [_rotation(k1, k2), _rotation(k2, k3)])
    assert [k.public_key for k in later.keys] == [bytes(k2.verify_key), bytes(k3.verify_key)]


@pytest.mark.parametrize("forgery", ["signed by an outsider", "new key did not sign", "tampered statement",
                                     "other purpose", "not canonical"])
def test_a_forged_endorsement_is_refused(forgery):
    k1, k2, evil = _key(), _key(), _key()
    if forgery == "signed by an outsider":
        statement = rotation_statement(SHARE_SIGNING, bytes(k1.verify_key), bytes(evil.verify_key), T0)
        e = endorse(statement, evil, evil)
    elif forgery == "new key did not sign":
        e = _rotation(k1, k2)
        e = Endorsement(e.statement, e.old_signature, evil.sign(ROTATION_DOMAIN + e.statement).signature)
    elif forgery == "tampered statement":
        e = _rotation(k1, k2)
        e = Endorsement(e.statement.replace(b"2026-11-30", b"2026-11-29"), e.old_signature, e.new_signature)
    elif forgery == "other purpose":
        e = endorse(rotation_statement("ledger", bytes(k1.verify_key), bytes(k2.verify_key), T0), k1, k2)
    else:
        statement = json.dumps(json.loads(_rotation(k1, k2).statement), indent=1).encode()
        e = endorse(statement, k1, k2)
    with pytest.raises(SignatureInvalid):
        KeyChain.follow(k1.verify_key, [e])


def test_a_later_statement_version_is_not_read():
    k1, k2 = _key(), _key()
    statement = json.loads(_rotation(k1, k2).statement) | {"v": 2}
    with pytest.raises(UnsupportedVersion):
        KeyChain.follow(k1.verify_key, [endorse(canonical_json(statement), k1, k2)])


def test_a_revoked_key_verifies_only_what_it_signed_before_and_endorses_nothing_after():
    k1, k2 = _key(), _key()
    revoked_from = T0 + timedelta(hours=1)
    # Rotated before the revocation: the chain goes on; k1 is good for what it signed before.
    chain = KeyChain.follow(k1.verify_key, [_rotation(k1, k2, T0)], {bytes(k1.verify_key): revoked_from})
    signer = chain.verify(b"m", k1.sign(b"m").signature)
    signer.check_issued(revoked_from - timedelta(seconds=1))
    with pytest.raises(KeyRevoked, match="key revoked from 2026-11-30T13:00:00Z"):
        signer.check_issued(revoked_from)
    # Rotated after the revocation (a compromise found late): the chain stops at k1.
    cut = KeyChain.follow(k1.verify_key, [_rotation(k1, k2, revoked_from)], {bytes(k1.verify_key): revoked_from})
    assert len(cut.keys) == 1
    with pytest.raises(KeyRevoked, match="pin the service's current key"):
        cut.verify(b"m", k2.sign(b"m").signature)


def test_a_receipt_verifies_under_the_key_of_the_chain_it_names():
    k1, k2 = _key(), _key()
    chain = KeyChain.follow(k1.verify_key, [_rotation(k1, k2)], {bytes(k1.verify_key): T0 + timedelta(hours=1)})
    for key, when, good in ((k1, "2026-11-30T12:30:00.5Z", True), (k2, "2026-12-01T00:00:00Z", True),
                            (k1, "2026-11-30T13:00:00Z", False)):
        statement = {"format": receipts.FORMAT, "key_id": receipts.key_id(bytes(key.verify_key)), "time": when}
        data, signature, key_id = receipts.sign_statement(statement, key)
        if good:
            assert receipts.verify_statement(data, signature, key_id, chain)["time"] == when
        else:
            with pytest.raises(receipts.ReceiptInvalid, match="revoked"):
                receipts.verify_statement(data, signature, key_id, chain)
    # The pinned key alone, as before any rotation.
    data, signature, key_id = receipts.sign_statement(
        {"format": receipts.FORMAT, "key_id": receipts.key_id(bytes(k1.verify_key)), "time": "x"}, k1)
    with pytest.raises(receipts.ReceiptInvalid, match="time is malformed"):
        receipts.verify_statement(data, signature, key_id, k1.verify_key)
