"""The service's keys inside a PKCS#11 token (a hardware security module, or SoftHSM for tests).

What the token holds, each a token object under a fixed label, every private or secret one
created inside the token as sensitive and non-extractable (docs/keys.md):

    consentry-operator        Ed25519 key pair   signs the operator's call tokens
    consentry-share-signing   Ed25519 key pair   signs share packages and receipts
    consentry-ledger-signing  Ed25519 key pair   signs ledger checkpoints
    consentry-root-kek        AES-256 key        seals the working secrets kept in the data directory

Ed25519 signatures are made in the token (CKM_EDDSA) and verify with any RFC 8032 verifier. The
working secrets (the KEK that wraps record data keys, the pseudonym key) are sealed with
AES-256-GCM (CKM_AES_GCM) under the root KEK and opened in the token once, at start: a record's
key is then unwrapped in memory, so no call waits on the token per record.

A PKCS#11 session runs one operation at a time, so each use takes the token's lock; a signature
holds it for about 0.2 ms on SoftHSM.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import nacl.signing

from .errors import CryptoError, DecryptionFailed, KeyFileError

ROOT_KEK = "consentry-root-kek"
_ED25519_OID = "1.3.101.112"
_GCM_NONCE = 12
_GCM_TAG_BITS = 128
_SEAL_DOMAIN = b"consentry-token-sealed-v1\x00"


class TokenError(CryptoError):
    """The PKCS#11 token cannot be opened or lacks a key it should hold."""


class Token:
    """One logged-in session on the token labelled `label`, shared by the process's threads."""

    def __init__(self, module: str, label: str, pin: str) -> None:
        import pkcs11  # only a deployment that names a PKCS#11 module needs the package

        self.label = label
        try:
            lib = pkcs11.lib(module)
        except (RuntimeError, OSError) as exc:
            raise TokenError(f"cannot load the PKCS#11 module {module}: {exc}") from None
        try:
            token = lib.get_token(token_label=label)
        except pkcs11.exceptions.NoSuchToken:
            raise TokenError(f"no PKCS#11 token labelled {label!r} in {module}") from None
        except pkcs11.exceptions.MultipleTokensReturned:
            raise TokenError(f"more than one PKCS#11 token is labelled {label!r}") from None
        try:
            self._session = token.open(user_pin=pin, rw=True)
        except pkcs11.exceptions.PinIncorrect:
            raise TokenError(f"the PIN for PKCS#11 token {label!r} is wrong") from None
        except pkcs11.exceptions.PKCS11Error as exc:
            raise TokenError(f"cannot log in to PKCS#11 token {label!r}: {type(exc).__name__}") from None
        self._pkcs11 = pkcs11
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._session.close()

    # --- Ed25519 --------------------------------------------------------------------------------

    def ed25519_public_key(self, label: str) -> bytes | None:
        """The 32-byte public key of the pair labelled `label`, or None if the token has none."""
        p = self._pkcs11
        with self._lock:
            found = list(self._session.get_objects({p.Attribute.CLASS: p.ObjectClass.PUBLIC_KEY,
                                                     p.Attribute.LABEL: label}))
            if not found:
                return None
            if len(found) > 1:
                raise TokenError(f"token {self.label!r} holds more than one public key labelled {label!r}")
            point = bytes(found[0][p.Attribute.EC_POINT])
        # EC_POINT is the 32-byte key as a DER OCTET STRING (04 20 ...) or, by some tokens, bare.
        raw = point[2:] if len(point) == 34 and point[:2] == b"\x04\x20" else point
        if len(raw) != 32:
            raise TokenError(f"the public key labelled {label!r} is not an Ed25519 key")
        return raw

    def generate_ed25519(self, label: str) -> bytes:
        """Creates a non-extractable Ed25519 pair labelled `label`; refuses if one exists."""
        from pkcs11.util.ec import encode_named_curve_parameters

        if self.ed25519_public_key(label) is not None:
            raise TokenError(f"token {self.label!r} already holds a key labelled {label!r}")
        p = self._pkcs11
        with self._lock:
            self._session.generate_keypair(
                p.KeyType.EC_EDWARDS, 0, mechanism=p.Mechanism.EC_EDWARDS_KEY_PAIR_GEN, store=True, label=label,
                public_template={p.Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)},
                private_template=_non_extractable(p))
        public = self.ed25519_public_key(label)
        assert public is not None
        return public

    def private_key(self, label: str) -> Any:
        """The handle of the private key labelled `label`: it stays the same key when labels move
        (a rotation relabels), until the key is destroyed."""
        with self._lock:
            return self._one(label, self._pkcs11.ObjectClass.PRIVATE_KEY)

    def sign_ed25519(self, key: Any, message: bytes) -> bytes:
        with self._lock:
            return bytes(key.sign(bytes(message), mechanism=self._pkcs11.Mechanism.EDDSA))

    def labels(self, prefix: str) -> list[str]:
        """The labels of the token's Ed25519 public keys that start with `prefix`."""
        p = self._pkcs11
        with self._lock:
            found = self._session.get_objects({p.Attribute.CLASS: p.ObjectClass.PUBLIC_KEY})
            return sorted(label for obj in found if (label := obj[p.Attribute.LABEL]).startswith(prefix))

    def relabel(self, label: str, new_label: str) -> None:
        """Moves every object labelled `label` (both halves of a pair) to `new_label`, which must
        be free. Handles stay valid: a signer keeps signing with the key it was made with."""
        p = self._pkcs11
        with self._lock:
            if list(self._session.get_objects({p.Attribute.LABEL: new_label})):
                raise TokenError(f"token {self.label!r} already holds a key labelled {new_label!r}")
            for obj in list(self._session.get_objects({p.Attribute.LABEL: label})):
                obj[p.Attribute.LABEL] = new_label

    def destroy(self, label: str) -> None:
        """Destroys every object labelled `label`."""
        p = self._pkcs11
        with self._lock:
            for obj in list(self._session.get_objects({p.Attribute.LABEL: label})):
                obj.destroy()

    # --- the root KEK ---------------------------------------------------------------------------

    def has_secret_key(self, label: str = ROOT_KEK) -> bool:
        p = self._pkcs11
        with self._lock:
            return bool(list(self._session.get_objects({p.Attribute.CLASS: p.ObjectClass.SECRET_KEY,
                                                        p.Attribute.LABEL: label})))

    def generate_root_kek(self, label: str = ROOT_KEK) -> None:
        """A non-extractable AES-256 key labelled `label` (the root KEK, or the next one)."""
        if self.has_secret_key(label):
            raise TokenError(f"token {self.label!r} already holds {label}")
        p = self._pkcs11
        with self._lock:
            self._session.generate_key(p.KeyType.AES, 256, store=True, label=label, template=_non_extractable(p))

    def seal(self, secret: bytes, purpose: str, kek: str = ROOT_KEK) -> bytes:
        """nonce (12) | AES-256-GCM(secret) + tag (16) under the root KEK (or the AES key labelled
        `kek`); `purpose` is authenticated."""
        p = self._pkcs11
        nonce = os.urandom(_GCM_NONCE)
        with self._lock:
            key = self._one(kek, p.ObjectClass.SECRET_KEY)
            sealed = key.encrypt(bytes(secret), mechanism=p.Mechanism.AES_GCM,
                                 mechanism_param=p.GCMParams(nonce, _aad(purpose), _GCM_TAG_BITS))
        return nonce + bytes(sealed)

    def unseal(self, sealed: bytes, purpose: str, keks: tuple[str, ...] = (ROOT_KEK,)) -> bytes:
        """Opens a sealed secret under the first of the AES keys labelled `keks` that opens it
        (during a rotation of the root KEK a file may be sealed under the old or the new one)."""
        if len(sealed) <= _GCM_NONCE + _GCM_TAG_BITS // 8:
            raise KeyFileError("a sealed key is truncated")
        held = [label for label in keks if self.has_secret_key(label)]
        if not held:
            raise TokenError(f"token {self.label!r} holds no {ROOT_KEK}: the {purpose} key was sealed by "
                             "another token")
        p = self._pkcs11
        nonce, body = bytes(sealed[:_GCM_NONCE]), bytes(sealed[_GCM_NONCE:])
        params = p.GCMParams(nonce, _aad(purpose), _GCM_TAG_BITS)
        with self._lock:
            for label in held:
                try:
                    key = self._one(label, p.ObjectClass.SECRET_KEY)
                    return bytes(key.decrypt(body, mechanism=p.Mechanism.AES_GCM, mechanism_param=params))
                except p.exceptions.PKCS11Error:
                    continue
        raise DecryptionFailed(f"the {purpose} key was not sealed by token {self.label!r}'s {ROOT_KEK}")

    # --- helpers --------------------------------------------------------------------------------

    def _one(self, label: str, object_class: Any) -> Any:
        """The one key object of `object_class` labelled `label`; the caller holds the lock."""
        found = list(self._session.get_objects({self._pkcs11.Attribute.CLASS: object_class,
                                                self._pkcs11.Attribute.LABEL: label}))
        if len(found) != 1:
            raise TokenError(f"token {self.label!r} holds {len(found)} keys labelled {label!r}; expected one")
        return found[0]

    def __repr__(self) -> str:
        return f"Token(label={self.label!r})"


class TokenSigner:
    """An Ed25519 key in the token, used where a `nacl.signing.SigningKey` is (`sign`, `verify_key`)."""

    def __init__(self, token: Token, label: str) -> None:
        public = token.ed25519_public_key(label)
        if public is None:
            raise TokenError(f"token {token.label!r} holds no key labelled {label!r}; run `consentry init`")
        self._token, self._label = token, label
        self._key = token.private_key(label)  # this key, whatever label it has later
        self.verify_key = nacl.signing.VerifyKey(public)

    def sign(self, message: bytes) -> Signed:
        return Signed(self._token.sign_ed25519(self._key, message))

    def __repr__(self) -> str:
        return f"TokenSigner({self._token.label!r}, {self._label!r})"


class Signed:
    """What `sign` returns, as nacl's SignedMessage does: the detached signature."""

    __slots__ = ("signature",)

    def __init__(self, signature: bytes) -> None:
        self.signature = signature


def _non_extractable(p: Any) -> dict[Any, bool]:
    return {p.Attribute.EXTRACTABLE: False, p.Attribute.SENSITIVE: True, p.Attribute.PRIVATE: True}


def _aad(purpose: str) -> bytes:
    return _SEAL_DOMAIN + purpose.encode("ascii")
