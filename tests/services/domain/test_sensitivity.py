"""What a caller may read of the policy's reasons: none naming a sensitive category or label."""

from __future__ import annotations

import pytest

from consentry.services.domain.sensitivity import WITHHELD, caller_reasons, is_sensitive, names_sensitive


@pytest.mark.parametrize("reason", [
    "category mental-health is sensitive and needs a consent that names it",
    "sensitive label HIV needs a consent that names category hiv-sti",
    "consent 6f1c2d3e-0000-4000-8000-000000000000 does not name sensitive category Substance-Use",
    "sensitive label R needs a consent that names category lab",  # a one-letter code, standing alone
    "label V.",
    "a label hiv in lower case",
    "role physician may not read genetic for HPAYMT",
])
def test_a_reason_naming_a_sensitive_category_or_label_is_caught(reason: str) -> None:
    assert names_sensitive(reason)


@pytest.mark.parametrize("reason", [
    "no active consent from the patient covers category lab for purpose TREAT",
    "role physician may not read discharge-summary for HRESCH",  # R and V inside longer words
    "consent 6f1c2d3e-0000-4000-8000-000000000000 does not cover purpose PUBHLTH",
    "break-the-glass needs a clinician role; claims-officer is not one",
    "the record was erased",
])
def test_a_reason_naming_neither_is_kept(reason: str) -> None:
    assert not names_sensitive(reason)
    assert caller_reasons([reason]) == [reason]


def test_only_the_clean_reasons_are_shown_or_a_fixed_one_when_none_is() -> None:
    clean = "no active consent from the patient covers category condition for purpose TREAT"
    assert caller_reasons([clean, "sensitive label HIV needs a consent that names category hiv-sti"]) == [clean]
    assert caller_reasons(["category mental-health is sensitive and needs a consent that names it"]) == [WITHHELD]
    assert not names_sensitive(WITHHELD)


def test_sensitivity_is_the_policys_category_or_label() -> None:
    assert is_sensitive("mental-health", [])
    assert is_sensitive("condition", ["HIV"])
    assert is_sensitive("lab", ["R"])
    assert is_sensitive("lab", ["psy"])  # the policy compares label codes upper-cased
    assert not is_sensitive("lab", ["N", "normal"])
