"""Where the published test vectors are: in the repository (tests/vectors), except the one
test-only private key, which stays outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parent / "vectors"
_REPO = Path(__file__).resolve().parents[1]


def signed_note_signer_key() -> str:
    """The published signer key of the signed-note known answer, or skip."""
    candidates = [os.environ.get("CONSENTRY_SIGNED_NOTE_SIGNER_KEY", ""),
                  str(_REPO.parent / "shared" / "vectors" / "signed-note" / "signer-key.txt")]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return Path(candidate).read_text(encoding="utf-8")
    pytest.skip("the signed-note signer key is not beside this checkout (../shared/vectors)")
