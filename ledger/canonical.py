"""RFC 8785 (JSON Canonicalization Scheme) encoding of ledger entries.

``rfc8785.dumps`` is the reference but costs ~100 µs for a 20-field entry;
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` costs
~23 µs and produces the *same bytes* when the value is restricted to:

* ``dict`` with ASCII ``str`` keys: Python sorts keys by code point and
  RFC 8785 by UTF-16 code unit; the two orders agree on ASCII (they can
  differ once keys mix U+E000..U+FFFF with astral characters);
* ``str`` values: both escape only ``"``, ``\\`` and C0 controls, use the
  short forms ``\\b \\f \\n \\r \\t`` and lowercase ``\\u00xx`` for the rest,
  and emit everything else as raw UTF-8;
* ``int`` within ±(2**53 - 1) (RFC 8785 numbers are IEEE doubles; both
  print such integers as plain decimals; ``bool`` is checked first so
  ``True`` is never taken for ``1``);
* ``bool``, ``None``, ``list``.

Anything else (non-ASCII keys, tuples, ``str`` subclasses...) takes the
reference path.  Floats are rejected everywhere: their decimal forms are a
classic source of cross-implementation disagreement and the ledger never
needs them.  ``tests/ledger/test_canonical.py`` checks byte equality
with hypothesis.
"""

from __future__ import annotations

import json
from typing import Any, cast

import rfc8785

from .errors import CanonicalizationError

MAX_SAFE_INT = 2**53 - 1

_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical_json(obj: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``obj``; floats are refused."""
    if _fast_path_ok(obj):
        try:
            return _dumps(obj).encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates in a str
            raise CanonicalizationError("string is not valid Unicode (lone surrogate)") from exc
    _reject_floats(obj)
    try:
        # rfc8785 checks every type at run time and raises for what it cannot
        # encode; its annotation only names what it accepts, so the value goes as-is.
        return rfc8785.dumps(cast(Any, obj))
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalizationError(f"value cannot be canonicalized: {exc}") from exc


def _fast_path_ok(obj: object) -> bool:
    """True when json.dumps is proven byte-identical to RFC 8785 for ``obj``.

    Raises for floats and integers outside the IEEE-double-exact range, so
    both paths refuse them the same way.
    """
    if type(obj) is str or type(obj) is bool or obj is None:
        return True
    if type(obj) is int:
        if -MAX_SAFE_INT <= obj <= MAX_SAFE_INT:
            return True
        raise CanonicalizationError(f"integer {obj} is outside ±(2**53 - 1)")
    if type(obj) is dict:
        for key, value in obj.items():
            if type(key) is not str or not key.isascii():
                return False
            if not _fast_path_ok(value):
                return False
        return True
    if type(obj) is list:
        return all(_fast_path_ok(value) for value in obj)
    if isinstance(obj, float):
        raise CanonicalizationError("floats are not allowed in ledger entries")
    return False


def _reject_floats(obj: object) -> None:
    """Walk the whole value: the reference path would otherwise accept floats."""
    if isinstance(obj, float):
        raise CanonicalizationError("floats are not allowed in ledger entries")
    if isinstance(obj, dict):
        for value in obj.values():
            _reject_floats(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _reject_floats(value)
