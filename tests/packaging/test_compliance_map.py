"""docs/compliance.md maps every provision it must to a test (or says why not), and each test exists.

A map that names a test nobody wrote, or that quietly loses a provision, misleads the compliance
officer who relies on it; this keeps the document honest as tests are renamed.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "compliance.md"

REQUIRED = (
    [f"PIPL {n}" for n in (13, 14, 15, 16, 17, 18, 23, 28, 29, 30, 31)]
    + [f"PIPL {n}" for n in (*range(44, 52), *range(54, 58), 73)]
    + ["GB/T 39725 classification", "GB/T 39725 grading"]
    + [f"HIPAA 164.{n}" for n in (312, 508, 514, 522, 524, 526, 528)]
    + ["42 CFR 2.31", "42 CFR 2.32", "42 CFR 2.51"]
    + [f"GDPR {n}" for n in (6, 7, 9, 15, 16, 17, 18, 19, 20, 25, 30, 32, 33, 34, 35)]
)
ROW = re.compile(r"^\| \*\*(?P<provision>[^*]+)\*\* \|(?P<cells>.*)\|$")
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")
TESTS_ONLY = re.compile(rf"{TEST_REF.pattern}(, {TEST_REF.pattern})*")
OUT_OF_SCOPE = "Out of scope"


def rows() -> list[tuple[str, str]]:
    found = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            shown_by = match["cells"].rsplit("|", 1)[-1].strip()
            found.append((match["provision"], shown_by))
    return found


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    )


def test_every_provision_has_exactly_one_row() -> None:
    provisions = [provision for provision, _ in rows()]
    assert sorted(provisions) == sorted(REQUIRED)


def test_every_row_names_a_test_or_says_why_it_is_out_of_scope() -> None:
    bare = [p for p, shown in rows() if not TESTS_ONLY.fullmatch(shown) and not shown.startswith(OUT_OF_SCOPE)]
    assert bare == []


def test_every_named_test_exists() -> None:
    missing = []
    for provision, shown in rows():
        for path, name in TEST_REF.findall(shown):
            if not (ROOT / path).is_file() or name not in defined_tests(path):
                missing.append(f"{provision}: {path}::{name}")
    assert missing == []
