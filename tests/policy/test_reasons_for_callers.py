"""Every reason the policy gives for a record that is not sensitive can be shown to the caller as
it is: none names a sensitive category or label (docs/disclosure.md). The service filters the
reasons it returns anyway; this keeps the ledger entry it sends beside them whole."""

from __future__ import annotations

import pytest
from policy_cases import load_cases

from consentry.services.domain.sensitivity import caller_reasons, is_sensitive


def _plain_cases() -> list[tuple[str, dict]]:
    """The decision-table cases about a well-formed record that is not sensitive."""
    out = []
    for name, document, _expect in load_cases():
        resource = document.get("resource")
        if not isinstance(resource, dict):
            continue
        category, labels = resource.get("category"), resource.get("labels", [])
        well_formed = isinstance(category, str) and isinstance(labels, list) and all(isinstance(x, str) for x in labels)
        if well_formed and document.get("action") == "read" and not is_sensitive(category, labels):
            out.append((name, document))
    return out


PLAIN = _plain_cases()


def test_the_tables_have_plain_cases_to_check() -> None:
    assert len(PLAIN) > 20


@pytest.mark.parametrize(("name", "document"), PLAIN, ids=[name for name, _ in PLAIN])
def test_reasons_for_a_plain_record_name_nothing_sensitive(engine, name: str, document: dict) -> None:
    [decision] = engine.decide([document])
    assert caller_reasons(decision.reasons) == list(decision.reasons), name
