"""RFC 8785 encoding: the json.dumps fast path is byte-identical to rfc8785."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.ledger.canonical import MAX_SAFE_INT, canonical_json
from consentry.ledger.errors import CanonicalizationError

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # no lone surrogates
ascii_keys = st.text(st.characters(max_codepoint=127), max_size=8)
scalars = st.none() | st.booleans() | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT) | text
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ascii_keys | text, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=1500, deadline=None)
@given(values)
def test_matches_rfc8785(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\uffff": 2, "a": 3},  # UTF-16 vs code point order differ
        {"s": "\u2028\u2029\x7f\x00\x1f\"\\/é"},
        [MAX_SAFE_INT, -MAX_SAFE_INT, 0, True, False, None],
        ("tuple", 1),
    ],
)
def test_edge_cases_match_rfc8785(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [1.0, {"a": [0.5]}, {"é": 2.5}, [MAX_SAFE_INT + 1], {"n": -(2**60)}, {"s": "\ud800"}, {1: "x"}, object()],
)
def test_refused(value):
    with pytest.raises(CanonicalizationError):
        canonical_json(value)
