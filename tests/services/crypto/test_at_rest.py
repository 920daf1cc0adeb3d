"""Records at rest and KEK handling: roundtrip, binding to the record id, rotation, retirement."""

from __future__ import annotations

import dataclasses
import os

import pytest

from consentry.services.crypto.at_rest import (
    RecordMeta,
    SealedRecord,
    open_note,
    open_record,
    reseal_record,
    rewrap_record,
    seal_note,
    seal_record,
)
from consentry.services.crypto.errors import (
    DecryptionFailed,
    KeyFileError,
    MalformedPackage,
    UnknownKek,
    UnsupportedVersion,
)
from consentry.services.crypto.kek import (
    FileKekProvider,
    KeyEncryptionKeyProvider,
    LocalKekProvider,
    needs_rewrap,
    wrapped_key_id,
)
from consentry.services.crypto.keyfiles import generate_secret

M = RecordMeta("patient-1", "hospital-a", "mental-health", ("PSY",), 1)
BODY = b'{"resourceType":"Patient","id":"p1","name":[{"family":"Chalmers"}]}'


@pytest.fixture
def kek():
    return LocalKekProvider(os.urandom(32))


def test_provider_satisfies_the_protocol(kek):
    assert isinstance(kek, KeyEncryptionKeyProvider)


def test_roundtrip(kek):
    sealed = seal_record("rec-1", BODY, kek, M)
    assert sealed.kek_id == kek.key_id == wrapped_key_id(sealed.wrapped_key)
    assert sealed.ciphertext[0] == 2 and BODY not in sealed.ciphertext
    assert open_record("rec-1", sealed, kek, M) == BODY
    assert "Chalmers" not in repr(sealed)


def test_fresh_data_key_per_record(kek):
    a, b = seal_record("rec-1", BODY, kek, M), seal_record("rec-1", BODY, kek, M)
    assert a.ciphertext != b.ciphertext and a.wrapped_key != b.wrapped_key


def test_empty_body_roundtrips(kek):
    assert open_record("r", seal_record("r", b"", kek, M), kek, M) == b""


def test_wrong_record_id_is_rejected(kek):
    sealed = seal_record("rec-1", BODY, kek, M)
    with pytest.raises(DecryptionFailed):
        open_record("rec-2", sealed, kek, M)


def test_body_moved_to_another_record_is_rejected(kek):
    # Even with the other record's own (valid) wrapped key, the body AAD names rec-1.
    one, two = seal_record("rec-1", BODY, kek, M), seal_record("rec-2", b"other", kek, M)
    swapped = SealedRecord(one.ciphertext, two.wrapped_key, two.kek_id)
    with pytest.raises(DecryptionFailed):
        open_record("rec-2", swapped, kek, M)


def test_wrapped_key_under_the_wrong_kek_is_rejected(kek):
    sealed = seal_record("rec-1", BODY, kek, M)
    other = LocalKekProvider(os.urandom(32))
    with pytest.raises(UnknownKek):  # the wrapped key names a KEK this provider lacks
        open_record("rec-1", sealed, other, M)
    impostor = LocalKekProvider.from_mapping({kek.key_id: os.urandom(32)}, kek.key_id)
    with pytest.raises(DecryptionFailed):  # same id, different key bytes
        open_record("rec-1", sealed, impostor, M)


def test_wrap_context_is_authenticated(kek):
    wrapped = kek.wrap(os.urandom(32), b"ctx-a")
    with pytest.raises(DecryptionFailed):
        kek.unwrap(wrapped, b"ctx-b")


def test_relabelled_wrapped_key_is_rejected(kek):
    # Point the header at another KEK the provider holds: the header is in the AAD.
    other_key = os.urandom(32)
    both = LocalKekProvider.from_mapping({"kek-a": os.urandom(32), "kek-b": other_key}, "kek-a")
    wrapped = both.wrap(os.urandom(32), b"ctx")
    relabelled = wrapped.replace(b"kek-a", b"kek-b", 1)
    with pytest.raises(DecryptionFailed):
        both.unwrap(relabelled, b"ctx")


@pytest.mark.parametrize("pos", [0, 1, 5, 30, -1])
def test_tampered_ciphertext_or_wrapped_key(kek, pos):
    sealed = seal_record("rec-1", BODY, kek, M)
    for field in ("ciphertext", "wrapped_key"):
        raw = bytearray(getattr(sealed, field))
        raw[pos] ^= 0x01
        bad = dataclasses.replace(sealed, **{field: bytes(raw)})
        with pytest.raises((DecryptionFailed, UnsupportedVersion, MalformedPackage, UnknownKek)):
            open_record("rec-1", bad, kek, M)


def test_unknown_versions_are_refused(kek):
    sealed = seal_record("rec-1", BODY, kek, M)
    with pytest.raises(UnsupportedVersion):
        open_record("rec-1", dataclasses.replace(sealed, ciphertext=b"\x03" + sealed.ciphertext[1:]), kek, M)
    with pytest.raises(UnsupportedVersion):
        kek.unwrap(b"\x02" + sealed.wrapped_key[1:], b"x")


def test_kek_id_column_must_match_the_wrapped_key(kek):
    sealed = seal_record("rec-1", BODY, kek, M)
    with pytest.raises(MalformedPackage):
        open_record("rec-1", dataclasses.replace(sealed, kek_id="local-0000000000000000"), kek, M)


def test_kek_rotation_rewraps_and_the_old_kek_can_be_retired(tmp_path):
    old_path, new_path = tmp_path / "kek-2026.key", tmp_path / "kek-2027.key"
    generate_secret(old_path)
    old = FileKekProvider(old_path)
    records = {f"rec-{i}": seal_record(f"rec-{i}", BODY + bytes([i]), old, M) for i in range(5)}

    generate_secret(new_path)
    during = FileKekProvider(new_path, previous=[old_path])  # new current key + old for reading
    assert during.key_id != old.key_id and during.key_ids == {old.key_id, during.key_id}
    # While rotating, the provider reads old and new records alike.
    assert all(open_record(rid, s, during, M) == BODY + bytes([i]) for i, (rid, s) in enumerate(records.items()))

    stale = [rid for rid, s in records.items() if needs_rewrap(s.wrapped_key, during)]
    assert stale == list(records)
    rewrapped = {rid: rewrap_record(rid, records[rid], during, during) for rid in stale}
    assert all(s.kek_id == during.key_id for s in rewrapped.values())
    assert all(rewrapped[r].ciphertext == records[r].ciphertext for r in records)  # body untouched

    # Retire the old KEK: delete its file; the new provider alone opens every rewrapped record.
    os.unlink(old_path)
    after = FileKekProvider(new_path)
    for i, (rid, s) in enumerate(rewrapped.items()):
        assert open_record(rid, s, after, M) == BODY + bytes([i])
        with pytest.raises(UnknownKek):
            open_record(rid, records[rid], after, M)  # a copy wrapped under the old KEK is now dead
    with pytest.raises(KeyFileError):
        FileKekProvider(new_path, previous=[old_path])


def test_crypto_shredding(kek):
    # Erasing = deleting the wrapped key. Without it no KEK helps, even the right one.
    sealed = seal_record("rec-1", BODY, kek, M)
    other = seal_record("rec-9", b"x", kek, M)
    with pytest.raises(DecryptionFailed):
        open_record("rec-1", SealedRecord(sealed.ciphertext, other.wrapped_key, other.kek_id), kek, M)


def test_provider_refuses_bad_keys():
    with pytest.raises(ValueError, match="must be 32 bytes"):
        LocalKekProvider(b"short")
    with pytest.raises(ValueError, match="all-zero"):
        LocalKekProvider(bytes(32))
    with pytest.raises(UnknownKek):
        LocalKekProvider.from_mapping({"a": os.urandom(32)}, "b")
    assert "key_id" in repr(LocalKekProvider(os.urandom(32)))


def test_a_note_roundtrips_and_is_never_a_record(kek):
    """An emergency justification is sealed as a note: under its own domains, so a note cannot be
    opened as the record with the same id, nor a record as a note."""
    note = seal_note("e-1", b"unconscious on arrival", kek)
    assert open_note("e-1", note, kek) == b"unconscious on arrival"
    assert b"unconscious" not in note.ciphertext
    with pytest.raises(DecryptionFailed):
        open_record("e-1", note, kek, M)
    with pytest.raises((DecryptionFailed, UnsupportedVersion)):
        open_note("e-1", seal_record("e-1", BODY, kek, M), kek)
    with pytest.raises(DecryptionFailed):
        open_note("e-2", note, kek)


@pytest.mark.parametrize("changed", [
    {"category": "lab"}, {"labels": ()}, {"labels": ("PSY", "ETH")}, {"patient_id": "patient-2"},
    {"holder": "hospital-b"}, {"meta_version": 2}, {"meta_version": 0},
])
def test_a_body_is_bound_to_its_metadata(kek, changed):
    """Format version 2: a relabelled, reassigned or rolled-back row no longer opens."""
    sealed = seal_record("rec-1", BODY, kek, M)
    with pytest.raises(DecryptionFailed):
        open_record("rec-1", sealed, kek, dataclasses.replace(M, **changed))


def test_labels_bind_as_a_set(kek):
    meta = dataclasses.replace(M, labels=("PSY", "ETH", "PSY"))
    sealed = seal_record("rec-1", BODY, kek, meta)
    assert open_record("rec-1", sealed, kek, dataclasses.replace(M, labels=("ETH", "PSY"))) == BODY


def test_a_version_1_body_opens_binds_the_id_only_and_reseals_as_version_2(kek):
    from consentry.services.crypto.at_rest import _RECORD_DOMAINS, _seal

    legacy = _seal(_RECORD_DOMAINS, "rec-1", BODY, kek)  # as every record was sealed before version 2
    assert legacy.ciphertext[0] == 1
    assert open_record("rec-1", legacy, kek, M) == BODY
    assert open_record("rec-1", legacy, kek, dataclasses.replace(M, category="lab")) == BODY  # not protected
    upgraded = reseal_record("rec-1", legacy, kek, M, M)
    assert upgraded.ciphertext[0] == 2 and upgraded.wrapped_key != legacy.wrapped_key
    assert open_record("rec-1", upgraded, kek, M) == BODY
    with pytest.raises(DecryptionFailed):
        open_record("rec-1", upgraded, kek, dataclasses.replace(M, category="lab"))
    # Nor can a version-2 body be passed off as version 1 (its AAD was not the version-1 one).
    with pytest.raises(DecryptionFailed):
        open_record("rec-1", dataclasses.replace(upgraded, ciphertext=b"\x01" + upgraded.ciphertext[1:]), kek, M)
