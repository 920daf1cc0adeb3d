"""Fixtures for the crypto tests: a service key and two institutions."""

from __future__ import annotations

import nacl.signing
import pytest
from crypto_helpers import Institution


@pytest.fixture(scope="session")
def service_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


@pytest.fixture(scope="session")
def inst_a() -> Institution:
    return Institution("hospital-a")


@pytest.fixture(scope="session")
def inst_b() -> Institution:
    return Institution("clinic-b")
