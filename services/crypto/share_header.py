"""The share header: its members in each format version, their checks, and the patient binding.

docs/share-format.md ("Header") is normative. A header is the RFC 8785 canonical JSON of exactly
the members of its version. Version 2 adds what a recipient needs to tell that a package answers
*its own* fetch: the record's category, the nonce the client sent with the fetch, and a binding
to the patient the fetch named that only the recipient can check::

    patient_binding = hex(HMAC-SHA256(key = share_key,
                                      msg = b"consentry-share-v2-patient\\x00" | UTF-8(patient_ref)))

The share key is sealed to the recipient, so nobody on the path can test a guessed patient id
against the header, yet the recipient compares it with the id it asked for.

Version 3 adds `redisclosure`: null, or for a substance-use record (42 CFR Part 2) the notice 42
CFR 2.32 requires with every disclosure and the scope of the consents it was disclosed under, so
the notice and the scope are signed with the package and travel with the record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any

from consentry.ledger.canonical import canonical_json
from consentry.ledger.errors import CanonicalizationError

from .errors import MalformedPackage, UnsupportedVersion

SHARE_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)  # 1 only from an archive (docs/share-format.md, "Version 1")
FETCH_BOUND_VERSIONS = (2, 3)  # versions whose header binds the fetch it answers
# 42 CFR 2.32(a)(1), the statement every disclosure of a Part 2 record carries, verbatim.
REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by federal confidentiality rules (42 CFR part 2). "
    "These rules prohibit you from using or disclosing this record, or testimony that describes the information "
    "contained in this record, in any civil, criminal, administrative, or legislative proceedings by any Federal, "
    "State, or local authority, against the patient, unless authorized by the consent of the patient, except as "
    "provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR 2.64 or 2.65. In "
    "addition, the Federal rules prohibit you from making any other use or disclosure of this record unless at "
    "least one of the following applies: (i) Further use or disclosure is expressly permitted by the written "
    "consent of the individual whose information is being disclosed in this record or as otherwise permitted by "
    "42 CFR part 2. (ii) You are a covered entity or business associate and have received the record for "
    "treatment, payment, or health care operations, or (iii) You have received the record from a covered entity "
    "or business associate as permitted by 45 CFR part 164, subparts A and E. A general authorization for the "
    "release of medical or other information is NOT sufficient to meet the required elements of written consent "
    "to further use or redisclose the record (see 42 CFR 2.31)."
)
# The members of each consent scope in a redisclosure.
SCOPE_KEYS = frozenset({"consent_id", "version", "categories", "purposes", "excepted", "valid_until"})
PATIENT_BINDING_DOMAIN = b"consentry-share-v2-patient\x00"
FETCH_NONCE_BYTES = (16, 64)  # the fewest and the most bytes of a fetch nonce
_V1_KEYS = frozenset({"v", "share_id", "record_id", "recipient", "recipient_key_id", "purpose",
                      "ledger_seq", "obligations", "time", "content_type"})
HEADER_KEYS: dict[int, frozenset[str]] = {
    1: _V1_KEYS,
    2: _V1_KEYS | {"category", "patient_binding", "fetch_nonce"},
    3: _V1_KEYS | {"category", "patient_binding", "fetch_nonce", "redisclosure"},
}
_STR_FIELDS = ("share_id", "record_id", "category", "recipient", "recipient_key_id", "purpose",
               "patient_binding", "fetch_nonce", "time", "content_type")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIME_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_KEY_ID_RE = re.compile(r"[0-9a-f]{16}")
_BINDING_RE = re.compile(r"[0-9a-f]{64}")
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_-]+")


def patient_binding(share_key: bytes, patient_ref: str) -> str:
    """64 hex chars: HMAC-SHA256 under the share key of the domain string and the patient reference
    (the identifier the recipient named in its fetch request: a patient id or a research subject id)."""
    return hmac.new(share_key, PATIENT_BINDING_DOMAIN + patient_ref.encode("utf-8"), hashlib.sha256).hexdigest()


def encode_fetch_nonce(nonce: bytes) -> str:
    """base64url (RFC 4648 section 5) without padding, as the header carries the fetch nonce."""
    low, high = FETCH_NONCE_BYTES
    if not low <= len(nonce) <= high:
        raise ValueError(f"a fetch nonce is {low} to {high} bytes, got {len(nonce)}")
    return base64.urlsafe_b64encode(nonce).rstrip(b"=").decode("ascii")


def format_time(now: datetime) -> str:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (a naive time is ambiguous)")
    return now.astimezone(UTC).strftime(_TIME_FORMAT)  # seconds precision by design


def parse_time(text: str) -> datetime:
    """A header's `time` (already checked by parse_header) as an aware UTC datetime."""
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def encode_header(header: dict[str, Any]) -> bytes:
    _check_header(header, header.get("v"))
    return _canonical(header)


def _canonical(header: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of a header (the ledger's encoder: the same bytes, several times faster)."""
    try:
        return canonical_json(header)
    except CanonicalizationError as exc:
        raise MalformedPackage(f"the header cannot be canonicalized: {exc}") from None


def parse_header(raw: bytes, version: int) -> dict[str, Any]:
    """Parse and validate a header of `version`; it must be byte-identical to its canonical form."""
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise MalformedPackage("the header is not UTF-8 JSON") from None
    if not isinstance(header, dict):
        raise MalformedPackage("the header is not a JSON object")
    if header.get("v") != version or isinstance(header.get("v"), bool):
        raise UnsupportedVersion(f"share header version {header.get('v')!r} in a version {version} package")
    _check_header(header, version, error=MalformedPackage)
    # One byte string per header: duplicate keys, whitespace or escapes another parser might read
    # differently are refused, so every implementation sees the same header as the ledger hash.
    if _canonical(header) != raw:
        raise MalformedPackage("the header is not in RFC 8785 canonical form")
    return header


# --- checks -----------------------------------------------------------------------------------


def _check_header(header: dict[str, Any], version: Any, error: type[Exception] = ValueError) -> None:
    keys = HEADER_KEYS.get(version) if isinstance(version, int) and not isinstance(version, bool) else None
    if keys is None:
        raise error(f"share header version {version!r} is not one this code writes or reads")
    if set(header) != keys:
        missing, extra = sorted(keys - set(header)), sorted(set(header) - keys)
        raise error(f"header fields wrong: missing {missing}, unexpected {extra}")
    for name in _STR_FIELDS:
        if name in keys and (not isinstance(header[name], str) or not header[name]):
            raise error(f"header field {name!r} must be a non-empty string")
    seq = header["ledger_seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**53:
        # 2**53: the largest integer every JSON implementation (and RFC 8785) represents exactly.
        raise error("header field 'ledger_seq' must be an integer in [0, 2**53)")
    obl = header["obligations"]
    if not isinstance(obl, list) or not all(isinstance(o, str) and o for o in obl):
        raise error("header field 'obligations' must be a list of non-empty strings")
    if obl != sorted(set(obl)):
        raise error("header field 'obligations' must be sorted and without duplicates")
    # Regexes and the datetime constructor, not strptime/uuid.UUID: this runs on every share.
    if not _is_utc_time(header["time"]):
        raise error("header field 'time' must look like 2026-11-25T12:00:00Z")
    if not _UUID_RE.fullmatch(header["share_id"]):
        raise error("header field 'share_id' must be a lowercase hyphenated UUID")
    if not _KEY_ID_RE.fullmatch(header["recipient_key_id"]):
        raise error("header field 'recipient_key_id' must be 16 lowercase hex characters")
    if version >= 2:
        if not _BINDING_RE.fullmatch(header["patient_binding"]):
            raise error("header field 'patient_binding' must be 64 lowercase hex characters")
        if not _is_fetch_nonce(header["fetch_nonce"]):
            raise error("header field 'fetch_nonce' must be 16 to 64 bytes in unpadded base64url")
    if version >= 3 and header["redisclosure"] is not None:
        _check_redisclosure(header["redisclosure"], error)


def _check_redisclosure(value: Any, error: type[Exception]) -> None:
    """null, or {"notice": the 42 CFR 2.32 statement, "consents": [scope, ...]} (at least one)."""
    if not isinstance(value, dict) or set(value) != {"notice", "consents"}:
        raise error("header field 'redisclosure' must be null or an object of notice and consents")
    if value["notice"] != REDISCLOSURE_NOTICE:
        raise error("header field 'redisclosure.notice' must be the 42 CFR 2.32 statement, verbatim")
    scopes = value["consents"]
    if not isinstance(scopes, list) or not scopes or not all(_is_scope(c) for c in scopes):
        raise error("header field 'redisclosure.consents' must list the scope of each consent, at least one")


def _is_scope(scope: Any) -> bool:
    if not isinstance(scope, dict) or set(scope) != SCOPE_KEYS:
        return False
    lists = all(isinstance(scope[k], list) and all(isinstance(x, str) and x for x in scope[k])
                for k in ("categories", "purposes", "excepted"))
    version = scope["version"]
    return (lists and isinstance(scope["consent_id"], str) and bool(_UUID_RE.fullmatch(scope["consent_id"]))
            and isinstance(version, int) and not isinstance(version, bool) and version > 0
            and (scope["valid_until"] is None or (isinstance(scope["valid_until"], str)
                                                  and bool(scope["valid_until"]))))


def _is_fetch_nonce(text: str) -> bool:
    """True for the one unpadded base64url spelling of 16 to 64 bytes."""
    if not _BASE64URL_RE.fullmatch(text):
        return False
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return False
    low, high = FETCH_NONCE_BYTES
    return low <= len(raw) <= high and encode_fetch_nonce(raw) == text


def _is_utc_time(text: str) -> bool:
    """True for ``2026-11-25T12:00:00Z`` naming a real second (not month 13, Feb 30, ...)."""
    m = _TIME_RE.fullmatch(text)
    if m is None:
        return False
    year, month, day, hour, minute, second = map(int, m.groups())
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")
