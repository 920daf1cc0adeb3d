"""The service's keys in a real PKCS#11 token (SoftHSM): made inside it, never readable out of it,
signing verifiably; the working secrets sealed by it for one purpose, useless without it."""

from __future__ import annotations

from pathlib import Path

import nacl.signing
import pkcs11
import pytest
import softhsm

from consentry.services import config as cfg
from consentry.services.crypto import keyfiles
from consentry.services.crypto.errors import DecryptionFailed, KeyFileError
from consentry.services.crypto.key_provider import SIGNING_KEYS, TOKEN_LABELS, FileKeys, TokenKeys, open_token
from consentry.services.crypto.pkcs11_token import ROOT_KEK, Token, TokenError


@pytest.fixture
def token(tmp_path) -> Token:
    return open_token(softhsm.MODULE, softhsm.pool_token(tmp_path), softhsm.PIN)


def test_signing_keys_are_made_in_the_token_non_extractable_and_sign_for_any_verifier(token, tmp_path):
    keys = TokenKeys(tmp_path, token)
    for name in SIGNING_KEYS:
        keys.create_signer(name)
    with pytest.raises(TokenError, match="already holds"):
        keys.create_signer(cfg.OPERATOR_KEY)  # never a second key under one label

    # Read back through a session of our own, as an auditor of the token would.
    # The process is logged in already (PKCS#11 login is per application), so no PIN again.
    session = pkcs11.lib(softhsm.MODULE).get_token(token_label=token.label).open()
    try:
        for name in SIGNING_KEYS:
            [private] = session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY,
                                             pkcs11.Attribute.LABEL: TOKEN_LABELS[name]})
            assert private[pkcs11.Attribute.EXTRACTABLE] is False
            assert private[pkcs11.Attribute.SENSITIVE] is True
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                private[pkcs11.Attribute.VALUE]
        # The root KEK is made with the first working secret, not before.
        assert not list(session.get_objects({pkcs11.Attribute.LABEL: ROOT_KEK}))
    finally:
        session.close()

    signers = {name: keys.signer(name) for name in SIGNING_KEYS}
    publics = {bytes(s.verify_key) for s in signers.values()}
    assert len(publics) == 3  # three keys, not one used three times
    message = b"consentry checkpoint\n7\n"
    for signer in signers.values():
        signature = signer.sign(message).signature
        nacl.signing.VerifyKey(bytes(signer.verify_key)).verify(message, signature)  # RFC 8032, PyNaCl
        with pytest.raises(nacl.exceptions.BadSignatureError):
            nacl.signing.VerifyKey(bytes(signer.verify_key)).verify(message + b"x", signature)
    assert not any(Path(tmp_path).iterdir())  # nothing of a signing key is written to the data directory


def test_working_secrets_are_sealed_for_their_purpose_and_open_only_in_their_token(token, tmp_path):
    keys = TokenKeys(tmp_path, token)
    path = tmp_path / cfg.KEK_FILE
    secret = keys.generate_secret(path, "kek")
    text = path.read_bytes()
    assert text.startswith(b"consentry-key-v1 sealed ") and path.stat().st_mode & 0o777 == 0o600
    assert secret not in keyfiles.read_key_file(path, "sealed")
    assert keys.load_secret(path, "kek") == secret
    session = pkcs11.lib(softhsm.MODULE).get_token(token_label=token.label).open()
    try:
        [root] = session.get_objects({pkcs11.Attribute.LABEL: ROOT_KEK})
        assert root[pkcs11.Attribute.EXTRACTABLE] is False and root[pkcs11.Attribute.SENSITIVE] is True
    finally:
        session.close()

    with pytest.raises(DecryptionFailed):
        keys.load_secret(path, "pseudonym")  # a KEK cannot be put in the pseudonym key's place

    tampered = tmp_path / "tampered.key"
    raw = bytearray(keyfiles.read_key_file(path, "sealed"))
    raw[20] ^= 1
    keyfiles.write_key_file(tampered, "sealed", bytes(raw))
    with pytest.raises(DecryptionFailed):
        keys.load_secret(tampered, "kek")

    other_token = open_token(softhsm.MODULE, softhsm.pool_token(tmp_path / "other"), softhsm.PIN)
    other = TokenKeys(tmp_path, other_token)
    with pytest.raises(TokenError, match="sealed by another token"):
        other.load_secret(path, "kek")  # that token has no root KEK at all
    other.generate_secret(tmp_path / "its-own.key", "kek")
    with pytest.raises(DecryptionFailed, match="not sealed by"):
        other.load_secret(path, "kek")  # and its own root KEK is not this one

    with pytest.raises(KeyFileError, match="sealed by a PKCS#11 token"):
        FileKeys(tmp_path).load_secret(path, "kek")


def test_a_data_directory_is_kept_by_one_provider(token, tmp_path):
    sealed_dir, plain_dir = tmp_path / "sealed", tmp_path / "plain"
    sealed_dir.mkdir(mode=0o700)
    plain_dir.mkdir(mode=0o700)
    TokenKeys(sealed_dir, token).generate_secret(sealed_dir / cfg.PSEUDONYM_KEY, "pseudonym")
    keyfiles.generate_secret(plain_dir / cfg.PSEUDONYM_KEY)

    with pytest.raises(KeyFileError, match="keeps its keys in a PKCS#11 token"):
        FileKeys(sealed_dir).check()
    with pytest.raises(KeyFileError, match="keeps its keys in files"):
        TokenKeys(plain_dir, token).check()
    with pytest.raises(KeyFileError, match="plain key file"):
        TokenKeys(plain_dir, token).load_secret(plain_dir / cfg.PSEUDONYM_KEY, "pseudonym")
    FileKeys(plain_dir).check()
    TokenKeys(sealed_dir, token).check()


def test_a_wrong_pin_or_an_unknown_token_is_a_clear_error(tmp_path):
    label = softhsm.pool_token(tmp_path)
    with pytest.raises(TokenError, match=r"PIN .* is wrong"):
        Token(softhsm.MODULE, label, "not-the-pin")
    with pytest.raises(TokenError, match="no PKCS#11 token labelled 'no-such-token'"):
        Token(softhsm.MODULE, "no-such-token", softhsm.PIN)
    with pytest.raises(TokenError, match="cannot load the PKCS#11 module"):
        Token(str(tmp_path / "missing.so"), label, softhsm.PIN)


def test_a_new_root_kek_seals_the_same_secrets_again_and_the_old_one_is_destroyed(token, tmp_path):
    keys = TokenKeys(tmp_path, token)
    secrets = {name: keys.generate_secret(tmp_path / name, purpose)
               for name, purpose in ((cfg.KEK_FILE, "kek"), ("kek-local-0123456789abcdef.key", "kek"),
                                     (cfg.PSEUDONYM_KEY, "pseudonym"))}
    before = {name: (tmp_path / name).read_bytes() for name in secrets}
    plain = tmp_path / "not-sealed.key"
    keyfiles.generate_secret(plain)  # only sealed files are touched

    assert keys.rotate_root_kek() == 3
    for name, secret in secrets.items():
        assert (tmp_path / name).read_bytes() != before[name]
        assert keys.load_secret(tmp_path / name, "pseudonym" if name == cfg.PSEUDONYM_KEY else "kek") == secret
    session = pkcs11.lib(softhsm.MODULE).get_token(token_label=token.label).open()
    try:
        labels = sorted(o[pkcs11.Attribute.LABEL] for o in session.get_objects(
            {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY}))
    finally:
        session.close()
    assert labels == [ROOT_KEK]  # one root KEK: the new one; the old one is gone
    # A file sealed under the old root KEK (a backup of the data directory) no longer opens.
    keyfiles.replace_key_file(tmp_path / "old-copy.key", "sealed", keyfiles.decode_key_file(
        before[cfg.KEK_FILE], "sealed"))
    with pytest.raises(DecryptionFailed):
        keys.load_secret(tmp_path / "old-copy.key", "kek")


def test_a_root_kek_rotation_cut_short_is_finished_by_the_next_run(token, tmp_path):
    keys = TokenKeys(tmp_path, token)
    kek = keys.generate_secret(tmp_path / cfg.KEK_FILE, "kek")
    pseudonym = keys.generate_secret(tmp_path / cfg.PSEUDONYM_KEY, "pseudonym")
    # The process died after making the next root KEK and sealing one file under it.
    token.generate_root_kek(ROOT_KEK + ".next")
    keyfiles.replace_key_file(tmp_path / cfg.KEK_FILE, "sealed", token.seal(kek, "kek", kek=ROOT_KEK + ".next"))
    assert keys.load_secret(tmp_path / cfg.KEK_FILE, "kek") == kek  # opens meanwhile
    assert keys.rotate_root_kek() == 2
    assert keys.load_secret(tmp_path / cfg.KEK_FILE, "kek") == kek
    assert keys.load_secret(tmp_path / cfg.PSEUDONYM_KEY, "pseudonym") == pseudonym
    assert not token.has_secret_key(ROOT_KEK + ".next") and not token.has_secret_key(ROOT_KEK + ".retired")
