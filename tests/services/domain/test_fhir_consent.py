"""FHIR R4 Consent export and import over gRPC, and the ledgering of consent expiry."""

from __future__ import annotations

import copy
import json
import time

import grpc
import hypothesis.strategies as st
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from harness import field_violations, grant
from hypothesis import given, settings

from consentry.services.domain.fhir_consent import from_fhir, parse_datetime, to_fhir
from consentry.services.errors import InvalidArgument
from consentry.v1 import common_pb2, consent_pb2

DAY_S = 86_400
# Compared after a round trip: everything but what a new grant necessarily changes.
VOLATILE = ("id", "dateTime", "status")


def ts(ns: int) -> Timestamp:
    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def export(person, consent_id: str) -> dict:
    reply = person.client.consent.ExportConsent(consent_pb2.ExportConsentRequest(consent_id=consent_id))
    return json.loads(reply.fhir_json)


def import_(person, doc, notice: common_pb2.NoticeRef, **kw) -> consent_pb2.Consent:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return person.client.consent.ImportConsent(consent_pb2.ImportConsentRequest(fhir_json=text, notice=notice,
                                                                                **kw)).consent


def stable(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in VOLATILE}


def new_entries(harness, after: int) -> list[dict]:
    rows = harness.sql("SELECT entry FROM ledger_entries WHERE seq > :s ORDER BY seq", s=after)
    return [json.loads(r[0]) for r in rows]


def ledger_size(harness) -> int:
    return harness.sql("SELECT COALESCE(MAX(seq), -1) FROM ledger_entries")[0][0]


@pytest.fixture
def pair(harness):
    return harness.org(), harness.patient()


@pytest.fixture
def detailed(harness, pair):
    """A consent using every part of the mapping, with nanosecond-precise periods."""
    doctor, patient = pair
    now = time.time_ns()
    return grant(patient, doctor, ["*", "mental-health"], purposes=("TREAT", "HPAYMT"),
                 excepted_categories=["imaging"],
                 data_period=common_pb2.Period(start=ts(now - 400 * DAY_S * 10**9 + 123), end=ts(now + 7)),
                 validity=common_pb2.Period(start=ts(now - 5), end=ts(now + 30 * DAY_S * 10**9 + 456_789)))


def test_export_maps_every_term(harness, pair, detailed):
    doctor, patient = pair
    doc = export(patient, detailed.consent_id)
    assert doc["resourceType"] == "Consent" and doc["id"] == detailed.consent_id and doc["status"] == "active"
    assert doc["scope"]["coding"][0]["code"] == "patient-privacy"
    assert doc["category"][0]["coding"][0] == {"system": "http://loinc.org", "code": "59284-0"}
    assert doc["patient"] == {"reference": "Patient/" + patient.id}
    assert doc["performer"] == [{"reference": "Patient/" + patient.id}]
    assert doc["policyRule"]["coding"][0]["code"] == "OPTIN"
    provision = doc["provision"]
    assert provision["type"] == "permit"
    assert provision["actor"][0]["reference"]["identifier"] == {"system": "urn:consentry:institution",
                                                                "value": doctor.id}
    assert provision["actor"][0]["role"]["coding"][0]["code"] == "IRCP"
    assert [p["code"] for p in provision["purpose"]] == ["HPAYMT", "TREAT"]
    assert [c["code"] for c in provision["class"]] == ["*", "mental-health"]
    assert provision["provision"] == [{"type": "deny",
                                       "class": [{"system": "urn:consentry:category", "code": "imaging"}]}]
    assert parse_datetime(provision["period"]["end"]) == detailed.validity.end.ToNanoseconds()
    assert parse_datetime(provision["dataPeriod"]["start"]) == detailed.data_period.start.ToNanoseconds()


def test_the_grantee_may_export_and_a_stranger_may_not(harness, pair, detailed):
    doctor, patient = pair
    assert export(doctor, detailed.consent_id)["id"] == detailed.consent_id
    for outsider in (harness.org().client, harness.patient().client):
        with pytest.raises(grpc.RpcError) as err:
            outsider.consent.ExportConsent(consent_pb2.ExportConsentRequest(consent_id=detailed.consent_id))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND  # as for an id that does not exist


@pytest.mark.parametrize("kind", [consent_pb2.CONSENT_KIND_TREATMENT, consent_pb2.CONSENT_KIND_RESEARCH])
def test_export_import_export_round_trips(harness, pair, kind):
    doctor, patient = pair
    purposes = ("HRESCH",) if kind == consent_pb2.CONSENT_KIND_RESEARCH else ("TREAT",)
    now = time.time_ns()
    first = grant(patient, doctor, ["lab", "genetic"], purposes=purposes, kind=kind,
                  excepted_categories=["imaging", "allergy"],
                  validity=common_pb2.Period(end=ts(now + DAY_S * 10**9 + 1)))
    exported = export(patient, first.consent_id)
    imported = import_(patient, exported, doctor.notice)
    assert imported.consent_id != first.consent_id and imported.version == 1
    assert (imported.grantee, imported.kind, list(imported.categories), list(imported.purposes)) == (
        first.grantee, first.kind, list(first.categories), list(first.purposes))
    assert imported.validity == first.validity and imported.data_period == first.data_period
    assert stable(export(patient, imported.consent_id)) == stable(exported)


def test_import_is_ledgered_as_a_grant_from_fhir(harness, pair, detailed):
    doctor, patient = pair
    before = ledger_size(harness)
    imported = import_(patient, export(patient, detailed.consent_id), doctor.notice)
    [entry] = [e for e in new_entries(harness, before) if e.get("consent") == imported.consent_id]
    assert entry["kind"] == "consent.granted" and entry["source"] == "fhir"
    assert entry["patient"] == harness.pseudonym(patient.id) and entry["grantee"] == "org:" + doctor.id
    assert entry["categories"] == ["*", "mental-health"] and entry["excepted"] == ["imaging"]


def test_a_proxy_with_manage_consents_imports_for_the_patient(harness, pair, detailed):
    doctor, patient = pair
    daughter, reader = harness.patient(), harness.patient()
    for proxy, scope in ((daughter, consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS),
                         (reader, consent_pb2.PROXY_SCOPE_READ_HISTORY)):
        patient.client.consent.AddProxy(consent_pb2.AddProxyRequest(
            patient_id=patient.id, proxy_id=proxy.id, relationship="daughter", scopes=[scope]))
    doc = export(patient, detailed.consent_id)
    assert import_(daughter, doc, doctor.notice).created_by == "patient:" + daughter.id
    with pytest.raises(grpc.RpcError) as err:
        import_(reader, doc, doctor.notice)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_import_of_an_unregistered_grantee_is_not_found(harness, pair, detailed):
    doctor, patient = pair
    doc = export(patient, detailed.consent_id)
    doc["provision"]["actor"][0]["reference"]["identifier"]["value"] = "no-such-org"
    with pytest.raises(grpc.RpcError) as err:
        import_(patient, doc, doctor.notice)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def _edit(path: str, value):
    """A mutation of an exported document: set (or, with value None, delete) the element at path."""
    def apply(doc: dict) -> dict:
        doc = copy.deepcopy(doc)
        *parents, last = path.split("/")
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is None:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return doc
    return apply


BAD = {
    "unknown purpose code": (_edit("provision/purpose/0/code", "FUN"), ["fhir_json.provision.purpose[0]"]),
    "purpose from another code system": (_edit("provision/purpose/0/system", "http://example.org"),
                                         ["fhir_json.provision.purpose[0]"]),
    "unknown category": (_edit("provision/class/0/code", "astrology"), ["fhir_json.provision.class[0]"]),
    "broad exception": (_edit("provision/provision/0/class/0/code", "*"),
                        ["fhir_json.provision.provision[0].class[0]"]),
    "exception that permits": (_edit("provision/provision/0/type", "permit"),
                               ["fhir_json.provision.provision[0].type"]),
    "actor of another role": (_edit("provision/actor/0/role/coding/0/code", "PRCP"),
                              ["fhir_json.provision.actor[0].role.coding[0]"]),
    "actor named by reference only": (_edit("provision/actor/0/reference", {"reference": "Organization/x"}),
                                      ["fhir_json.provision.actor[0].reference.reference",
                                       "fhir_json.provision.actor[0].reference.identifier"]),
    "actor from another identifier system": (_edit("provision/actor/0/reference/identifier/system", "urn:other"),
                                             ["fhir_json.provision.actor[0].reference.identifier"]),
    "two actors": (lambda d: _edit("provision/actor", d["provision"]["actor"] * 2)(d), ["fhir_json.provision.actor"]),
    "no actor": (_edit("provision/actor", None), ["fhir_json.provision.actor"]),
    "another action": (_edit("provision/action/0/coding/0/code", "correct"),
                       ["fhir_json.provision.action[0].coding[0]"]),
    "deny provision": (_edit("provision/type", "deny"), ["fhir_json.provision.type"]),
    "opt-out policy": (_edit("policyRule/coding/0/code", "OPTOUT"), ["fhir_json.policyRule.coding[0]"]),
    "unknown scope": (_edit("scope/coding/0/code", "adr"), ["fhir_json.scope.coding[0]"]),
    "another category": (_edit("category/0/coding/0/code", "57016-8"), ["fhir_json.category[0].coding[0]"]),
    "inactive": (_edit("status", "inactive"), ["fhir_json.status"]),
    "patient not a Patient reference": (_edit("patient/reference", "Group/1"), ["fhir_json.patient.reference"]),
    "a restriction Consentry cannot honour": (_edit("provision/securityLabel", [{"code": "R"}]),
                                              ["fhir_json.provision.securityLabel"]),
    "a modifier extension": (_edit("modifierExtension", [{"url": "urn:x"}]), ["fhir_json.modifierExtension"]),
    "period ends before it starts": (_edit("provision/period", {"start": "2030-01-02", "end": "2030-01-01"}),
                                     ["fhir_json.provision.period.end"]),
    "time without a zone": (_edit("provision/dataPeriod/start", "2026-01-01T10:00:00"),
                            ["fhir_json.provision.dataPeriod.start"]),
    "repeated purpose": (lambda d: _edit("provision/purpose", d["provision"]["purpose"] * 2)(d),
                         ["fhir_json.provision.purpose"]),
    "several problems at once": (lambda d: _edit("provision/class/0/code", "astrology")(
        _edit("status", "draft")(_edit("provision/purpose/0/code", "FUN")(d))),
        ["fhir_json.status", "fhir_json.provision.purpose[0]", "fhir_json.provision.class[0]"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_import_refuses_what_it_cannot_honour(harness, pair, detailed, case):
    doctor, patient = pair
    mutate, fields = BAD[case]
    document = mutate(export(patient, detailed.consent_id))  # (an export is a read, ledgered)
    before = ledger_size(harness)
    with pytest.raises(grpc.RpcError) as err:
        import_(patient, document, doctor.notice)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(err.value)) == set(fields)
    # Nothing was written but the refusal's own ledger entry.
    assert [e["kind"] for e in new_entries(harness, before)] == ["call.refused"]


@pytest.mark.parametrize(("text", "field"), [
    ("{not json", "fhir_json"),
    ("[]", "fhir_json"),
    ("", "fhir_json"),
    ('{"resourceType": "Patient", "name": [{"family": "Doe"}]}', "fhir_json.resourceType"),
])
def test_import_refuses_what_is_not_a_consent(harness, pair, text, field):
    doctor, patient = pair
    with pytest.raises(grpc.RpcError) as err:
        import_(patient, text, doctor.notice)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(err.value)) == {field}


def test_import_accepts_fhir_dates_and_descriptive_elements(harness, pair, detailed):
    doctor, patient = pair
    doc = export(patient, detailed.consent_id)
    doc.update(text={"status": "generated", "div": "<div>x</div>"}, identifier=[{"value": "abc"}],
               meta={"versionId": "3"})
    doc["provision"]["dataPeriod"] = {"start": "2025-02", "end": "2025-12-31"}
    imported = import_(patient, doc, doctor.notice)
    assert imported.data_period.start.ToJsonString() == "2025-02-01T00:00:00Z"
    assert imported.data_period.end.ToJsonString() == "2026-01-01T00:00:00Z"  # a date end is inclusive


def test_parse_datetime_is_exact():
    assert parse_datetime("2026-02-28T10:00:00.000000001+01:00") == 1_772_269_200_000_000_001
    assert parse_datetime("2024-02", end=True) == parse_datetime("2024-03-01")
    assert parse_datetime("2024-12", end=True) == parse_datetime("2025")
    for bad in ("2026-02-30", "2026-02-28T10:00Z", "2026-02-28 10:00:00Z", "26-01-01", "2026-01-01T25:00:00Z"):
        assert parse_datetime(bad) is None


# -- expiry ----------------------------------------------------------------------------------------

def test_expiry_is_ledgered_once_by_the_next_write_and_never_by_a_read(harness, pair):
    doctor, patient = pair
    now = time.time_ns()
    lapsed = grant(patient, doctor, ["lab"], validity=common_pb2.Period(start=ts(now - 2 * DAY_S * 10**9),
                                                                       end=ts(now - DAY_S * 10**9)))
    assert lapsed.status == consent_pb2.CONSENT_STATUS_EXPIRED
    before = ledger_size(harness)
    got = patient.client.consent.GetConsent(consent_pb2.GetConsentRequest(consent_id=lapsed.consent_id))
    assert got.consent.status == consent_pb2.CONSENT_STATUS_EXPIRED
    patient.client.consent.ListConsents(consent_pb2.ListConsentsRequest(patient_id=patient.id, include_inactive=True))
    # Reads ledger only themselves (metadata.read), never the expiry they saw.
    assert [(e["kind"], e["read"]) for e in new_entries(harness, before)] == [
        ("metadata.read", "consent"), ("metadata.read", "consents")]
    grant(patient, doctor, ["medication"])
    grant(patient, doctor, ["allergy"])
    expired = [e for e in new_entries(harness, before) if e["kind"] == "consent.expired"]
    assert len(expired) == 1
    assert expired[0]["consent"] == lapsed.consent_id and expired[0]["actor"] == "service"
    assert expired[0]["patient"] == harness.pseudonym(patient.id)
    assert parse_datetime(expired[0]["valid_until"]) == lapsed.validity.end.ToNanoseconds()
    got = patient.client.consent.GetConsent(consent_pb2.GetConsentRequest(consent_id=lapsed.consent_id))
    assert got.consent.status == consent_pb2.CONSENT_STATUS_EXPIRED
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=lapsed.consent_id))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_broad_consent_cannot_be_narrowed_to_a_sensitive_category(harness, pair):
    doctor, patient = pair
    broad = grant(patient, doctor, ["*"])
    with pytest.raises(grpc.RpcError) as err:
        patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
            consent_id=broad.consent_id, terms=consent_pb2.ConsentTerms(categories=["lab", "mental-health"],
                                                                        purposes=["TREAT"])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "terms.categories" in field_violations(err.value)
    narrowed = patient.client.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
        consent_id=broad.consent_id, terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]))).consent
    assert list(narrowed.categories) == ["lab"]


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_from_fhir_refuses_any_damage_cleanly(data):
    """Replacing any one element of a valid document by arbitrary JSON yields a grant or an
    InvalidArgument, never another exception."""
    doc = _valid_document()
    paths = list(_paths(doc))
    path = data.draw(st.sampled_from(paths))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = data.draw(_json)
    try:
        from_fhir(doc)
    except InvalidArgument as err:  # a grant is as good an outcome: the damage may be harmless
        assert err.violations and all(field.startswith("fhir_json") for field, _ in err.violations)  # noqa: PT017


def _valid_document() -> dict:
    from consentry.services.store.models import Consent

    return to_fhir(Consent(
        consent_id="c", version=1, patient_id="P1", grantee="org-abc", kind="treatment", categories=["*", "genetic"],
        purposes=["TREAT"], excepted=["imaging"], data_from_ns=10**18, data_until_ns=None, valid_from_ns=None,
        valid_until_ns=2 * 10**18, status="active", created_by="patient:P1", created_ns=10**18))


def _paths(node, prefix=()):
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))
