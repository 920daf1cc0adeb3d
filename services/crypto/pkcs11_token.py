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
        self._keys: dict[tuple[str, Any], Any] = {}

    def close(self) -> None:
        with self._lock:
            self._keys.clear()
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
            # Looked up afresh: another process (a rotation) may have moved the label since.
            self._keys.pop((label, self._pkcs11.ObjectClass.PRIVATE_KEY), None)
            return self._key(label, self._pkcs11.ObjectClass.PRIVATE_KEY)

    def sign_ed25519(self, key: Any, message: bytes) -> bytes:
        with self._lock:
            return bytes(key.sign(bytes(message), mechanism=self._pkcs11.Mechanism.EDDSA))

    def labels(self, prefix: str) -> list[str]:
        """The labels of the token's Ed25519 public keys that start with `prefix`."""
        p = self._pkcs11
        with self._lock:
            found = self._session.get_objects({p.Attribute.CLASS: p.ObjectClass.PUBLIC_KEY})
            return sorted(label for obj in found if (label := obj[p.Attribute.LABEL]).startswith(prefix))

    def relabel_ed25519(self, label: str, new_label: str) -> None:
        """Moves both halves of the pair labelled `label` to `new_label` (refused if that is taken)."""
        if self.ed25519_public_key(new_label) is not None:
            raise TokenError(f"token {self.label!r} already holds a key labelled {new_label!r}")
        p = self._pkcs11
        with self._lock:
            for object_class in (p.ObjectClass.PRIVATE_KEY, p.ObjectClass.PUBLIC_KEY):
                for obj in self._session.get_objects({p.Attribute.CLASS: object_class, p.Attribute.LABEL: label}):
                    obj[p.Attribute.LABEL] = new_label
            self._keys.clear()

    def destroy_ed25519(self, label: str) -> None:
        p = self._pkcs11
        with self._lock:
            for object_class in (p.ObjectClass.PRIVATE_KEY, p.ObjectClass.PUBLIC_KEY):
                for obj in self._session.get_objects({p.Attribute.CLASS: object_class, p.Attribute.LABEL: label}):
                    obj.destroy()
            self._keys.clear()

    # --- the root KEK ---------------------------------------------------------------------------

    def has_root_kek(self) -> bool:
        p = self._pkcs11
        with self._lock:
            return bool(list(self._session.get_objects({p.Attribute.CLASS: p.ObjectClass.SECRET_KEY,
                                                        p.Attribute.LABEL: ROOT_KEK})))

    def generate_root_kek(self) -> None:
        if self.has_root_kek():
            raise TokenError(f"token {self.label!r} already holds {ROOT_KEK}")
        p = self._pkcs11
        with self._lock:
            self._session.generate_key(p.KeyType.AES, 256, store=True, label=ROOT_KEK, template=_non_extractable(p))

    def seal(self, secret: bytes, purpose: str) -> bytes:
        """nonce (12) | AES-256-GCM(secret) + tag (16) under the root KEK; `purpose` is authenticated."""
        p = self._pkcs11
        nonce = os.urandom(_GCM_NONCE)
        with self._lock:
            key = self._key(ROOT_KEK, p.ObjectClass.SECRET_KEY)
            sealed = key.encrypt(bytes(secret), mechanism=p.Mechanism.AES_GCM,
                                 mechanism_param=p.GCMParams(nonce, _aad(purpose), _GCM_TAG_BITS))
        return nonce + bytes(sealed)

    def unseal(self, sealed: bytes, purpose: str) -> bytes:
        if len(sealed) <= _GCM_NONCE + _GCM_TAG_BITS // 8:
            raise KeyFileError("a sealed key is truncated")
        if not self.has_root_kek():
            raise TokenError(f"token {self.label!r} holds no {ROOT_KEK}: the {purpose} key was sealed by "
                             "another token")
        p = self._pkcs11
        nonce, body = bytes(sealed[:_GCM_NONCE]), bytes(sealed[_GCM_NONCE:])
        with self._lock:
            key = self._key(ROOT_KEK, p.ObjectClass.SECRET_KEY)
            try:
                return bytes(key.decrypt(body, mechanism=p.Mechanism.AES_GCM,
                                         mechanism_param=p.GCMParams(nonce, _aad(purpose), _GCM_TAG_BITS)))
            except p.exceptions.PKCS11Error:
                raise DecryptionFailed(f"the {purpose} key was not sealed by token {self.label!r}'s "
                                       f"{ROOT_KEK}") from None

    # --- helpers --------------------------------------------------------------------------------

    def _key(self, label: str, object_class: Any) -> Any:
        """The token's key object (cached: a lookup is a round trip); the caller holds the lock."""
        key = self._keys.get((label, object_class))
        if key is None:
            found = list(self._session.get_objects({self._pkcs11.Attribute.CLASS: object_class,
                                                    self._pkcs11.Attribute.LABEL: label}))
            if len(found) != 1:
                raise TokenError(f"token {self.label!r} holds {len(found)} keys labelled {label!r}; expected one")
            key = self._keys[(label, object_class)] = found[0]
        return key

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
