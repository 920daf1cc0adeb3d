"""Rotating a service signing key in the provider: the next key is staged, then promoted; the old
one stays, retired and named by its key id, until destroyed; a crash anywhere is finished by the
next run. The same under key files and in a PKCS#11 token."""

from __future__ import annotations

import os

import nacl.signing
import pytest
import softhsm

from consentry.services import config as cfg
from consentry.services.crypto.errors import CryptoError
from consentry.services.crypto.key_provider import FileKeys, KeyProvider, TokenKeys, open_token, signer_key_id


@pytest.fixture(params=["files", "pkcs11"])
def keys(request, tmp_path) -> KeyProvider:
    tmp_path.chmod(0o700)
    if request.param == "files":
        provider: KeyProvider = FileKeys(tmp_path)
    else:
        provider = TokenKeys(tmp_path, open_token(softhsm.MODULE, softhsm.pool_token(tmp_path), softhsm.PIN))
    provider.create_signer(cfg.SHARE_SIGNING_KEY)
    return provider


def _public(signer) -> bytes:
    return bytes(signer.verify_key)


def test_a_staged_key_is_promoted_and_the_old_one_is_kept_retired_until_destroyed(keys):
    name = cfg.SHARE_SIGNING_KEY
    before = keys.signer(name)
    old = _public(before)
    staged = keys.stage_signer(name)
    assert _public(keys.stage_signer(name)) == _public(staged)  # staging twice stages one key
    assert _public(keys.signer(name)) == old  # nothing changes before the promotion

    promotion = keys.promote_signer(name)
    assert (promotion.old, promotion.new) == (old, _public(staged))
    assert _public(keys.signer(name)) == promotion.new
    retired = keys.retired_signers(name)
    assert list(retired) == [signer_key_id(old)] and _public(retired[signer_key_id(old)]) == old
    message = b"a package signed before the rotation"
    signature = retired[signer_key_id(old)].sign(message).signature
    nacl.signing.VerifyKey(old).verify(message, signature)
    # A signer taken before the rotation still signs with the key it was taken with.
    nacl.signing.VerifyKey(old).verify(message, before.sign(message).signature)
    with pytest.raises(CryptoError):
        keys.promote_signer(name)  # nothing is staged any more

    keys.destroy_retired_signer(name, signer_key_id(old))
    assert keys.retired_signers(name) == {}
    with pytest.raises(CryptoError):
        keys.destroy_retired_signer(name, signer_key_id(old))


def test_a_promotion_cut_short_is_finished_by_the_next_run(keys):
    name = cfg.SHARE_SIGNING_KEY
    old = _public(keys.signer(name))
    new = _public(keys.stage_signer(name))
    # The first half of a promotion: the old key moved to its retired name, then the process died.
    if isinstance(keys, FileKeys):
        os.link(keys.data_dir / name, keys.data_dir / f"service-signing-{signer_key_id(old)}.key")
    else:
        keys.token.relabel("consentry-share-signing", f"consentry-share-signing.retired.{signer_key_id(old)}")
    promotion = keys.promote_signer(name)
    assert promotion.new == new and _public(keys.signer(name)) == new
    assert set(keys.retired_signers(name)) == {signer_key_id(old)}
