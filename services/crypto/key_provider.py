"""Where the service's keys live: key files in the data directory, or a PKCS#11 token.

Every private service key is reached through a `KeyProvider`, chosen by configuration
(`CONSENTRY_PKCS11_MODULE` set: the token; otherwise files; docs/keys.md):

* the three Ed25519 signing keys — operator, share-signing, ledger checkpoint — named by the file
  they have under the files provider (config.OPERATOR_KEY, ...). Under the token provider they are
  key pairs in the token and sign there; no private key is ever in the data directory.
* the working secrets — the KEK that wraps record data keys (current, retired, next) and the
  pseudonym key — which the service needs in memory on every call. Under the files provider a
  file holds the secret itself; under the token provider the file holds it sealed by the token's
  root KEK (pkcs11_token.py) and is useless without the token. Each is sealed for its purpose
  (`kek`, `pseudonym`), so one cannot be put in place of the other.

Both providers share the file rules of keyfiles.py: 0600, created atomically, never overwritten.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import nacl.utils

from consentry.services import config as cfg
from consentry.services.config import Settings
from consentry.services.signer import Ed25519Signer

from . import keyfiles
from .errors import KeyFileError
from .pkcs11_token import ROOT_KEK, Token, TokenError, TokenSigner

SIGNING_KEYS = (cfg.OPERATOR_KEY, cfg.SHARE_SIGNING_KEY, cfg.LEDGER_SIGNING_KEY)
TOKEN_LABELS = {
    cfg.OPERATOR_KEY: "consentry-operator",
    cfg.SHARE_SIGNING_KEY: "consentry-share-signing",
    cfg.LEDGER_SIGNING_KEY: "consentry-ledger-signing",
}
# The purpose each working secret is sealed for, by the file name it is created under.
SECRET_PURPOSES = {cfg.KEK_FILE: "kek", cfg.PSEUDONYM_KEY: "pseudonym"}
SECRET_BYTES = keyfiles.KEY_BYTES
# The root KEK, the next one during its rotation, and the one it replaced until destroyed.
_ROOT_KEKS = (ROOT_KEK, ROOT_KEK + ".next", ROOT_KEK + ".retired")


@dataclass(frozen=True)
class SignerPromotion:
    old: bytes | None  # the public key retired (None when a crashed promotion had retired it)
    new: bytes  # the public key now current


def signer_key_id(public_key: bytes) -> str:
    """16 hex digits of SHA-256 over an Ed25519 public key: how a retired signing key is named."""
    return hashlib.sha256(bytes(public_key)).hexdigest()[:16]


class KeyProvider(Protocol):
    data_dir: Path

    @property
    def description(self) -> str:
        """Where the keys are, for messages: `key files in <dir>` or `PKCS#11 token '<label>'`."""
        ...

    def check(self) -> None:
        """Refuses a data directory whose keys another provider keeps (before anything is made)."""
        ...

    def has_signer(self, name: str) -> bool: ...

    def where(self, name: str) -> str:
        """Where the key `name` is kept, for a person to read."""
        ...

    def create_signer(self, name: str) -> None:
        """Creates the signing key `name`; refuses if it exists."""
        ...

    def signer(self, name: str) -> Ed25519Signer: ...

    def stage_signer(self, name: str) -> Ed25519Signer:
        """The next key of signing key `name`, made if there is none (a rotation's first step)."""
        ...

    def promote_signer(self, name: str) -> SignerPromotion:
        """Makes the staged key current and keeps the one it replaces as retired. Each step is
        idempotent: run again after a crash, it finishes the promotion."""
        ...

    def retired_signers(self, name: str) -> dict[str, Ed25519Signer]:
        """The retired keys of signing key `name`, by `signer_key_id`."""
        ...

    def destroy_retired_signer(self, name: str, key_id: str) -> None: ...

    def generate_secret(self, path: Path, purpose: str) -> bytes:
        """A fresh 32-byte working secret kept at `path` (never overwritten)."""
        ...

    def load_secret(self, path: Path, purpose: str) -> bytes: ...


class FileKeys:
    """Every key a 0600 file in the data directory (the embedded default)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    @property
    def description(self) -> str:
        return f"key files in {self.data_dir}"

    def check(self) -> None:
        sealed = [name for name in SECRET_PURPOSES if _sealed(self.data_dir / name)]
        if sealed:
            raise KeyFileError(f"{self.data_dir} keeps its keys in a PKCS#11 token ({sealed[0]} is sealed); "
                               "set CONSENTRY_PKCS11_MODULE, CONSENTRY_PKCS11_TOKEN and the PIN (docs/keys.md)")

    def has_signer(self, name: str) -> bool:
        return (self.data_dir / _signing_key_name(name)).exists()

    def where(self, name: str) -> str:
        return str(self.data_dir / name)

    def create_signer(self, name: str) -> None:
        keyfiles.generate_signing_key(self.data_dir / _signing_key_name(name))

    def signer(self, name: str) -> Ed25519Signer:
        return keyfiles.load_signing_key(self.data_dir / _signing_key_name(name))

    def stage_signer(self, name: str) -> Ed25519Signer:
        staged = self._next(name)
        if staged.exists():
            return keyfiles.load_signing_key(staged)
        return keyfiles.generate_signing_key(staged)

    def promote_signer(self, name: str) -> SignerPromotion:
        current, staged = self.data_dir / _signing_key_name(name), self._next(name)
        if not staged.exists():
            raise KeyFileError(f"no staged key {staged.name} to promote")
        new = bytes(keyfiles.load_signing_key(staged).verify_key)
        old = bytes(keyfiles.load_signing_key(current).verify_key) if current.exists() else None
        if old is not None:
            retired = self._retired(name, signer_key_id(old))
            if not retired.exists():
                os.link(current, retired)  # the old key keeps its inode under its retired name
                keyfiles.fsync_dir(self.data_dir)
        os.replace(staged, current)  # atomic: a reader sees the old or the new key
        keyfiles.fsync_dir(self.data_dir)
        return SignerPromotion(old, new)

    def retired_signers(self, name: str) -> dict[str, Ed25519Signer]:
        stem = _signing_key_name(name).removesuffix(".key")
        pattern = re.compile(re.escape(stem) + r"-([0-9a-f]{16})\.key")
        return {m.group(1): keyfiles.load_signing_key(path) for path in sorted(self.data_dir.iterdir())
                if (m := pattern.fullmatch(path.name))}

    def destroy_retired_signer(self, name: str, key_id: str) -> None:
        path = self._retired(name, key_id)
        if not path.exists():
            raise KeyFileError(f"no retired key {path.name}")
        path.unlink()
        keyfiles.fsync_dir(self.data_dir)

    def _next(self, name: str) -> Path:
        return self.data_dir / (_signing_key_name(name).removesuffix(".key") + ".next.key")

    def _retired(self, name: str, key_id: str) -> Path:
        return self.data_dir / f"{_signing_key_name(name).removesuffix('.key')}-{key_id}.key"

    def generate_secret(self, path: Path, purpose: str) -> bytes:
        return keyfiles.generate_secret(path)

    def load_secret(self, path: Path, purpose: str) -> bytes:
        if _sealed(path):
            raise KeyFileError(f"{path} is sealed by a PKCS#11 token; set CONSENTRY_PKCS11_MODULE, "
                               "CONSENTRY_PKCS11_TOKEN and the PIN (docs/keys.md)")
        return keyfiles.load_secret(path)

    def __repr__(self) -> str:
        return f"FileKeys({str(self.data_dir)!r})"


class TokenKeys:
    """Signing keys in a PKCS#11 token; working secrets sealed by the token's root KEK."""

    def __init__(self, data_dir: Path, token: Token) -> None:
        self.data_dir = Path(data_dir)
        self.token = token

    @property
    def description(self) -> str:
        return f"PKCS#11 token {self.token.label!r}"

    def check(self) -> None:
        paths = [self.data_dir / name for name in (*SIGNING_KEYS, *SECRET_PURPOSES)]
        plain = [path.name for path in paths if path.exists() and not _sealed(path)]
        if plain:
            raise KeyFileError(f"{self.data_dir} keeps its keys in files ({plain[0]}), not in PKCS#11 token "
                               f"{self.token.label!r}; unset CONSENTRY_PKCS11_MODULE to use them (docs/keys.md)")

    def has_signer(self, name: str) -> bool:
        return self.token.ed25519_public_key(TOKEN_LABELS[_signing_key_name(name)]) is not None

    def where(self, name: str) -> str:
        if name in TOKEN_LABELS:
            return f"{TOKEN_LABELS[name]} in PKCS#11 token {self.token.label!r}"
        return f"{self.data_dir / name} (sealed by PKCS#11 token {self.token.label!r})"

    def create_signer(self, name: str) -> None:
        self.token.generate_ed25519(TOKEN_LABELS[_signing_key_name(name)])

    def signer(self, name: str) -> Ed25519Signer:
        return TokenSigner(self.token, TOKEN_LABELS[_signing_key_name(name)])

    def stage_signer(self, name: str) -> Ed25519Signer:
        staged = TOKEN_LABELS[_signing_key_name(name)] + ".next"
        if self.token.ed25519_public_key(staged) is None:
            self.token.generate_ed25519(staged)
        return TokenSigner(self.token, staged)

    def promote_signer(self, name: str) -> SignerPromotion:
        current = TOKEN_LABELS[_signing_key_name(name)]
        new = self.token.ed25519_public_key(current + ".next")
        if new is None:
            raise TokenError(f"token {self.token.label!r} holds no staged key {current}.next to promote")
        old = self.token.ed25519_public_key(current)
        if old is not None:
            self.token.relabel(current, f"{current}.retired.{signer_key_id(old)}")
        self.token.relabel(current + ".next", current)
        return SignerPromotion(old, new)

    def retired_signers(self, name: str) -> dict[str, Ed25519Signer]:
        prefix = TOKEN_LABELS[_signing_key_name(name)] + ".retired."
        return {label.removeprefix(prefix): TokenSigner(self.token, label) for label in self.token.labels(prefix)}

    def destroy_retired_signer(self, name: str, key_id: str) -> None:
        label = f"{TOKEN_LABELS[_signing_key_name(name)]}.retired.{key_id}"
        if self.token.ed25519_public_key(label) is None:
            raise TokenError(f"token {self.token.label!r} holds no retired key {label}")
        self.token.destroy(label)

    def generate_secret(self, path: Path, purpose: str) -> bytes:
        if not self.token.has_secret_key(ROOT_KEK):
            self.token.generate_root_kek()
        secret = nacl.utils.random(SECRET_BYTES)
        keyfiles.write_key_file(path, "sealed", self.token.seal(secret, purpose))
        return secret

    def load_secret(self, path: Path, purpose: str) -> bytes:
        if not _sealed(path) and Path(path).exists():
            raise KeyFileError(f"{path} is a plain key file, but this deployment keeps its keys in "
                               f"PKCS#11 token {self.token.label!r} (docs/keys.md)")
        secret = self.token.unseal(keyfiles.read_key_file(path, "sealed"), purpose, _ROOT_KEKS)
        if len(secret) != SECRET_BYTES:
            raise KeyFileError(f"{path} holds a sealed secret of {len(secret)} bytes")
        return secret

    def rotate_root_kek(self) -> int:
        """Seals every working secret of the data directory under a new root KEK made in the token,
        then destroys the old one; returns how many files were sealed again. The secrets
        themselves do not change. Each step is idempotent: run again after a crash, it finishes
        (a file sealed under either root KEK opens meanwhile)."""
        current, staged, retired = _ROOT_KEKS
        if not self.token.has_secret_key(staged) and self.token.has_secret_key(current):
            self.token.generate_root_kek(staged)
        resealed = 0
        if self.token.has_secret_key(staged):
            for path in sorted(self.data_dir.glob("*.key")):
                if _sealed(path):
                    purpose = _purpose_of(path.name)
                    sealed = self.token.seal(self.load_secret(path, purpose), purpose, kek=staged)
                    keyfiles.replace_key_file(path, "sealed", sealed)
                    resealed += 1
            if self.token.has_secret_key(current):
                if self.token.has_secret_key(retired):
                    self.token.destroy(retired)  # a rotation before this one died before destroying it
                self.token.relabel(current, retired)
            self.token.relabel(staged, current)
        self.token.destroy(retired)
        return resealed

    def __repr__(self) -> str:
        return f"TokenKeys({str(self.data_dir)!r}, {self.token!r})"


def key_provider(settings: Settings) -> KeyProvider:
    """The provider configured for `settings`: the token when a PKCS#11 module is named."""
    if not settings.pkcs11_module:
        return FileKeys(settings.data_dir)
    return TokenKeys(settings.data_dir, open_token(settings.pkcs11_module, settings.pkcs11_label,
                                                   pkcs11_pin(settings)))


def pseudonym_secret(keys: KeyProvider) -> bytes:
    """The MAC secret behind every pseudonym and derived id (derived.py, the ledger's trail)."""
    return keys.load_secret(keys.data_dir / cfg.PSEUDONYM_KEY, SECRET_PURPOSES[cfg.PSEUDONYM_KEY])


@functools.cache
def open_token(module: str, label: str, pin: str) -> Token:
    """One session per token and process: every provider of the process shares it."""
    return Token(module, label, pin)


def pkcs11_pin(settings: Settings) -> str:
    """The token's PIN: the first line of $CONSENTRY_PKCS11_PIN_FILE, or $CONSENTRY_PKCS11_PIN."""
    if settings.pkcs11_pin_file is not None:
        try:
            pin = settings.pkcs11_pin_file.read_text().splitlines()[:1]
        except OSError as exc:
            raise TokenError(f"cannot read CONSENTRY_PKCS11_PIN_FILE {settings.pkcs11_pin_file}: "
                             f"{exc.strerror}") from None
        if not pin or not pin[0]:
            raise TokenError(f"CONSENTRY_PKCS11_PIN_FILE {settings.pkcs11_pin_file} is empty")
        return pin[0]
    pin_value = os.environ.get("CONSENTRY_PKCS11_PIN")
    if not pin_value:
        raise TokenError("CONSENTRY_PKCS11_MODULE is set but neither CONSENTRY_PKCS11_PIN_FILE nor "
                         "CONSENTRY_PKCS11_PIN gives the token's PIN")
    return pin_value


def _signing_key_name(name: str) -> str:
    if name not in SIGNING_KEYS:
        raise ValueError(f"{name!r} is not a service signing key")
    return name


def _purpose_of(file_name: str) -> str:
    """What the working secret in `file_name` is sealed for: kek.key, kek.next.key and the retired
    kek-<id>.key files hold KEKs; the pseudonym key has its own name."""
    if file_name == cfg.PSEUDONYM_KEY:
        return SECRET_PURPOSES[cfg.PSEUDONYM_KEY]
    if file_name.startswith("kek"):
        return SECRET_PURPOSES[cfg.KEK_FILE]
    raise KeyFileError(f"{file_name} is not a working secret of the service")


def _sealed(path: Path) -> bool:
    """Whether the key file at `path` is sealed by a token (read only its first words)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(keyfiles.FORMAT_MAGIC) + 8)
    except OSError:
        return False
    return head.startswith(f"{keyfiles.FORMAT_MAGIC} sealed ".encode())

