"""Legal citations in the policy data and docs name provisions that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CITING = [ROOT / "policy" / "data" / "erasure.json", ROOT / "docs" / "policy.md"]
# GDPR Art. 17(3) has points (a) to (e); there is no (f) onwards.
GDPR_17_3 = re.compile(r"17\(3\)\(([a-z])\)")


@pytest.mark.parametrize("path", CITING, ids=lambda p: p.name)
def test_gdpr_17_3_citations_name_existing_points(path):
    text = path.read_text()
    cited = set(GDPR_17_3.findall(text))
    assert cited and cited <= set("abcde"), cited
    assert "9(2)(h)" in text and "9(3)" in text
