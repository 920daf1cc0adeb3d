"""What a key in a PKCS#11 token costs per use, beside the same operation in memory: the numbers
behind the key hierarchy of docs/keys.md.

Makes a SoftHSM token of its own (in a temporary directory) and prints, per operation, the mean
and p99 in microseconds and the ratio to the in-memory operation:

* Ed25519 signature (a share package, a receipt, a checkpoint): PyNaCl vs CKM_EDDSA in the token;
* unwrapping one record's data key: XChaCha20-Poly1305 under the working KEK in memory (what the
  service does) vs AES-256-GCM decryption in the token vs AES key wrap with padding (RFC 5649)
  unwrapped into a session object and read out.

    .venv/bin/python benchmarks/key_provider_bench.py [--n 2000] [--module /usr/lib/softhsm/libsofthsm2.so]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nacl.signing

from consentry.services.crypto.kek import LocalKekProvider
from consentry.services.crypto.pkcs11_token import Token

PIN = "bench-pin"


def timed(n: int, op: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        op()
        out.append((time.perf_counter() - start) * 1e6)
    return out


def row(name: str, samples: list[float], baseline: list[float] | None) -> str:
    mean = statistics.fmean(samples)
    p99 = statistics.quantiles(samples, n=100)[98]
    ratio = f"{mean / statistics.fmean(baseline):6.1f}x" if baseline else "     1x"
    return f"{name:<64} {mean:9.1f} {p99:9.1f} {ratio}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--module", default="/usr/lib/softhsm/libsofthsm2.so")
    args = ap.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="consentry-hsm-bench-"))
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--so-pin", "bench-so-pin",
                    "--pin", PIN], check=True, capture_output=True)
    token = Token(args.module, "bench", PIN)
    token.generate_ed25519("bench-ed25519")
    token.generate_root_kek()

    import pkcs11  # the raw session, for the two token-per-record alternatives

    session = token._session  # a benchmark of the token itself
    root = session.get_key(label="consentry-root-kek", key_type=pkcs11.KeyType.AES)

    message = os.urandom(200)  # about a share package's signature message
    in_memory = nacl.signing.SigningKey.generate()
    sign_memory = timed(args.n, lambda: in_memory.sign(message))
    private = token.private_key("bench-ed25519")
    sign_token = timed(args.n, lambda: token.sign_ed25519(private, message))

    data_key, context = os.urandom(32), b"consentry-record-key-v1\x00bench-record"
    kek = LocalKekProvider(os.urandom(32))
    wrapped = kek.wrap(data_key, context)
    unwrap_memory = timed(args.n, lambda: kek.unwrap(wrapped, context))
    nonce = os.urandom(12)
    gcm = pkcs11.GCMParams(nonce, context, 128)
    sealed = root.encrypt(data_key, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=gcm)
    unwrap_gcm = timed(args.n, lambda: root.decrypt(sealed, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=gcm))
    secret = session.create_object({
        pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY, pkcs11.Attribute.KEY_TYPE: pkcs11.KeyType.GENERIC_SECRET,
        pkcs11.Attribute.VALUE: data_key, pkcs11.Attribute.TOKEN: False, pkcs11.Attribute.EXTRACTABLE: True,
        pkcs11.Attribute.SENSITIVE: False})
    kwp = root.wrap_key(secret, mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD)

    def unwrap_kwp() -> bytes:
        key = root.unwrap_key(pkcs11.ObjectClass.SECRET_KEY, pkcs11.KeyType.GENERIC_SECRET, kwp,
                              mechanism=pkcs11.Mechanism.AES_KEY_WRAP_PAD, store=False,
                              template={pkcs11.Attribute.EXTRACTABLE: True, pkcs11.Attribute.SENSITIVE: False})
        value = bytes(key[pkcs11.Attribute.VALUE])
        key.destroy()
        return value

    unwrap_token_kwp = timed(args.n, unwrap_kwp)
    token.close()

    print(f"{args.n} operations each, {args.module}, Python {sys.version.split()[0]}")
    print(f"{'operation':<64} {'mean µs':>9} {'p99 µs':>9} {'ratio':>7}")
    print(row("Ed25519 sign, in memory (PyNaCl)", sign_memory, None))
    print(row("Ed25519 sign, in the token (CKM_EDDSA)", sign_token, sign_memory))
    print(row("record key unwrap, working KEK in memory (XChaCha20-Poly1305)", unwrap_memory, None))
    print(row("record key unwrap, in the token (CKM_AES_GCM)", unwrap_gcm, unwrap_memory))
    print(row("record key unwrap, in the token (CKM_AES_KEY_WRAP_PAD + read)", unwrap_token_kwp, unwrap_memory))


if __name__ == "__main__":
    main()
