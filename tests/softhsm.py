"""A SoftHSM token store for the run: real PKCS#11 tokens for the key provider's tests.

SoftHSM (Debian's `softhsm2`) reads its configuration when a process first loads it and sees only
the tokens that existed then, so the pool of tokens the test process itself uses is made once, at
the start of the run (`start`); a `consentry` command a test starts is a fresh process and sees
tokens made later (`new_token`).

Suites that need a token skip when `softhsm2-util` is missing, unless CONSENTRY_TEST_REQUIRE_PKCS11=1
(CI sets it), which fails them instead. With CONSENTRY_TEST_KEY_PROVIDER=pkcs11 every harness keeps
its service keys in a token of the pool (CI runs the key-related suites that way too).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

MODULE = os.environ.get("CONSENTRY_TEST_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
PIN = "consentry-test-pin"
SO_PIN = "consentry-test-so-pin"
REQUIRE = os.environ.get("CONSENTRY_TEST_REQUIRE_PKCS11") == "1"
EVERY_HARNESS = os.environ.get("CONSENTRY_TEST_KEY_PROVIDER") == "pkcs11"
POOL = 96 if EVERY_HARNESS else 24

_pool: itertools.count[int] | None = None
_pool_size = 0
_taken: dict[Path, str] = {}


def available() -> bool:
    return shutil.which("softhsm2-util") is not None and Path(MODULE).exists()


def require() -> None:
    if _pool is None:
        if REQUIRE:
            pytest.fail(f"CONSENTRY_TEST_REQUIRE_PKCS11=1 but softhsm2-util or {MODULE} is missing")
        pytest.skip("softhsm2 is missing")


def start(directory: Path) -> None:
    """Points SOFTHSM2_CONF at a token store under `directory` and makes the pool's tokens."""
    global _pool, _pool_size
    if not available():
        return
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    os.environ["CONSENTRY_PKCS11_PIN"] = PIN  # read by the provider, never a flag
    for i in range(POOL):
        _init_token(f"pool-{i}")
    _pool, _pool_size = itertools.count(), POOL


def pool_token(data_dir: Path) -> str:
    """The label of the pool's token for `data_dir`: the one it had before (a restarted server), or
    one no one has used yet."""
    require()
    assert _pool is not None
    if data_dir in _taken:
        return _taken[data_dir]
    index = next(_pool)
    if index >= _pool_size:
        pytest.fail(f"the run used all {_pool_size} SoftHSM tokens of the pool; raise POOL in tests/softhsm.py")
    _taken[data_dir] = f"pool-{index}"
    return _taken[data_dir]


def new_token() -> dict[str, str]:
    """A fresh token, for a `consentry` command: the environment that selects it."""
    require()
    label = f"t-{uuid.uuid4().hex[:12]}"
    _init_token(label)
    return {"CONSENTRY_PKCS11_MODULE": MODULE, "CONSENTRY_PKCS11_TOKEN": label, "CONSENTRY_PKCS11_PIN": PIN,
            "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}


def _init_token(label: str) -> None:
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN],
                   check=True, capture_output=True)
