"""Information disclosure: what a caller learns from an answer or a refusal (docs/disclosure.md).

Each case is an attack on a running server: the caller compares what comes back for a patient it
should know nothing about with what comes back for an id no one has, or probes for records it may
not have. The secure outcome is the same bytes either way, and a refusal ledgered exactly once,
naming no patient (the caller may not act for one), yet listed in the patient's history when one
is enrolled, so the patient sees it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from harness import NONCE, Harness, Org, Person, field_violations, grant

from consentry.ledger.pseudonym import patient_pseudonym
from consentry.services.api.call_log import REQUEST_ID
from consentry.services.crypto import derived
from consentry.services.domain.sensitivity import WITHHELD
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2

SENSITIVE_WORDS = ("HIV", "PSY", "hiv-sti", "mental-health")
LAB_TERMS = consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])


def deposits(patient_id: str) -> dict[str, tuple[dict, str]]:
    """A lab result, a condition labelled HIV and a psychiatric note: (FHIR resource, category)."""
    ref = {"reference": f"Patient/{patient_id}"}
    return {
        "lab": ({"resourceType": "Observation", "status": "final", "code": {"text": "CRP"},
                 "subject": ref, "effectiveDateTime": "2026-11-19",
                 "category": [{"coding": [{"code": "laboratory"}]}]}, ""),
        "hiv": ({"resourceType": "Condition", "subject": ref, "recordedDate": "2026-10-01",
                 "meta": {"security": [{"code": "HIV"}]}}, ""),
        "psy": ({"resourceType": "DocumentReference", "status": "current", "subject": ref,
                 "date": "2026-11-18T15:00:00Z",
                 "content": [{"attachment": {"contentType": "text/plain"}}],
                 "meta": {"security": [{"code": "PSY"}]}}, "mental-health"),
    }


@dataclass
class World:
    hospital: Org  # holds the patient's records
    doctor: Org  # holds a consent for lab
    outsider: Org  # a registered hospital with no relationship to the patient
    patient: Person
    stranger: Person  # an enrolled patient who may not act for `patient`
    records: dict[str, str]  # name -> record id
    consent_id: str
    request_id: str  # the doctor's access request to the patient


@pytest.fixture(scope="module")
def world(harness: Harness) -> World:
    hospital, doctor, outsider = harness.org(), harness.org(practitioner="dr-chen"), harness.org()
    patient, stranger = harness.patient(), harness.patient()
    records = {}
    for name, (resource, category) in deposits(patient.id).items():
        records[name] = hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=json.dumps(resource).encode(), category=category)).record.record_id
    consent = grant(patient, doctor, ["lab"])
    request = doctor.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(notice=doctor.notice,
        patient_id=patient.id, terms=LAB_TERMS, reason="follow-up")).request
    harness.entries()  # the first read enrols the reading auditor; later reads add no entries
    return World(hospital, doctor, outsider, patient, stranger, records, consent.consent_id, request.request_id)


def unknown_id() -> str:
    return f"P{secrets.token_hex(5)}"  # shaped like an enrolled id, enrolled by no one


def answer(call: Callable[[], object]) -> tuple:
    """All a caller receives: the responses' bytes, or the status code, message and trailing
    metadata (google.rpc.Status with its details) of the refusal. The call's request id is left
    out: random for every call, it tells nothing of the patient (test_request_ids_are_random)."""
    try:
        result = call()
        responses = list(result) if hasattr(result, "__next__") else [result]
        return ("answered", [r.SerializeToString(deterministic=True) for r in responses])
    except grpc.RpcError as error:
        return (error.code(), error.details(),
                tuple((m.key, m.value) for m in error.trailing_metadata() or () if m.key != REQUEST_ID))


def new_entries(harness: Harness, call: Callable[[], object]) -> tuple[tuple, list[dict]]:
    """The call's answer and the ledger entries it appended."""
    before = len(harness.entries())
    got = answer(call)
    return got, harness.entries()[before:]


def listed_for(harness: Harness, patient_id: str) -> set[int]:
    """The entries the service's index lists in the patient's history (GetAccessHistory, ListEntries)."""
    pseudonym = harness.pseudonym(patient_id)
    rows = harness.sql("SELECT seq FROM ledger_subjects WHERE pseudonym = :p", p=pseudonym)
    return {row[0] for row in rows or ()}


def assert_one_refusal(harness: Harness, entries: list[dict], patient_id: str | None) -> None:
    """Exactly one refusal entry, naming no patient: listed in the history of `patient_id` (an
    enrolled patient the call was about), or, with None, in no one's."""
    assert [e["kind"] for e in entries] == ["call.refused"]
    assert "patient" not in entries[0]
    if patient_id is None:
        assert harness.sql("SELECT count(*) FROM ledger_subjects WHERE seq = :s", s=entries[0]["seq"])[0][0] == 0
    else:
        assert entries[0]["seq"] in listed_for(harness, patient_id)


def assert_never_pseudonymised(harness: Harness, typed_id: str) -> None:
    # No pseudonym key was made for the id, so nothing the service keeps can name it; nor does
    # any entry carry its pseudonym under the service secret.
    assert harness.pseudonym(typed_id) is None
    assert harness.sql("SELECT count(*) FROM patient_pseudonym_keys WHERE patient_id = :p", p=typed_id)[0][0] == 0
    assert patient_pseudonym(harness.app.trail.pseudonym_key, typed_id) not in json.dumps(harness.entries())


def fetch(org: Org, patient_id: str, purpose: str = "TREAT", **kw) -> Callable[[], object]:
    request = exchange_pb2.FetchRecordsRequest(nonce=NONCE, patient_id=patient_id, purpose=purpose, **kw)
    return lambda: org.client.exchange.FetchRecords(request)


# -- a fetch without a relationship ----------------------------------------------------------------

@pytest.mark.parametrize("probe", [{}, {"categories": ["hiv-sti", "mental-health"]}, {"purpose": "ETREAT"}])
def test_an_unrelated_institution_cannot_tell_a_patient_with_sensitive_records_from_no_one(
        harness: Harness, world: World, probe: dict) -> None:
    nobody = unknown_id()
    enrolled, enrolled_entries = new_entries(harness, fetch(world.outsider, world.patient.id, **probe))
    unknown, unknown_entries = new_entries(harness, fetch(world.outsider, nobody, **probe))
    assert enrolled[0] == grpc.StatusCode.PERMISSION_DENIED
    assert enrolled == unknown  # code, message and status details: the same bytes
    assert not any(word in repr(enrolled) for word in SENSITIVE_WORDS)
    assert_one_refusal(harness, enrolled_entries, world.patient.id)
    assert_one_refusal(harness, unknown_entries, None)
    assert enrolled_entries[0]["actor"] == unknown_entries[0]["actor"] == "org:" + world.outsider.id
    assert_never_pseudonymised(harness, nobody)


def test_request_ids_are_random(harness: Harness, world: World) -> None:
    """The one part of a refusal left out of the comparisons above: new for every call, the same
    call twice gets two, so it cannot stand for the patient asked about."""
    ids = []
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as refused:
            list(fetch(world.outsider, world.patient.id)())  # a stream: refused when read
        [rid] = [m.value for m in refused.value.trailing_metadata() if m.key == REQUEST_ID]
        ids.append(rid)
    assert ids[0] != ids[1] and all(len(rid) == 16 and int(rid, 16) >= 0 for rid in ids)
    assert not any(world.patient.id in rid for rid in ids)


def test_the_patient_sees_the_refused_attempt_in_their_history(harness: Harness, world: World) -> None:
    before = answer(fetch(world.outsider, world.patient.id))
    assert before[0] == grpc.StatusCode.PERMISSION_DENIED
    events = world.patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
        patient_id=world.patient.id, page_size=1000)).events
    attempt = events[-1]
    assert attempt.institution_id == world.outsider.id and not attempt.allowed and not attempt.record_id


def test_a_real_record_id_and_a_random_one_answer_alike_without_a_relationship(
        harness: Harness, world: World) -> None:
    for name in ("hiv", "psy", "lab"):
        real = answer(fetch(world.outsider, world.patient.id, record_ids=[world.records[name]]))
        made_up = answer(fetch(world.outsider, world.patient.id, record_ids=[str(uuid.uuid4())]))
        assert real[0] == grpc.StatusCode.PERMISSION_DENIED and real == made_up


def test_no_declared_emergency_is_no_relationship(harness: Harness, world: World) -> None:
    declared = exchange_pb2.Emergency(declared=False, justification="")
    assert answer(fetch(world.outsider, world.patient.id, "ETREAT", emergency=declared)) == answer(
        fetch(world.outsider, unknown_id(), "ETREAT", emergency=declared))


# -- a fetch with a relationship -------------------------------------------------------------------

def test_a_consented_doctor_learns_nothing_of_the_sensitive_records_it_may_not_have(
        harness: Harness, world: World) -> None:
    got = list(world.doctor.client.fetch(world.patient.id, "TREAT", recipient_key=world.doctor.encryption,
                                         service_key=harness.service_key))
    # Only the lab result: no outcome, id, category or count for the HIV condition or the note.
    assert [(r.record_id, r.shared) for r in got] == [(world.records["lab"], True)]
    seen = repr(got).encode() + b"".join(r.ledger_entry for r in got)
    for name in ("hiv", "psy"):
        assert world.records[name].encode() not in seen
    assert not any(word.encode() in seen for word in SENSITIVE_WORDS)
    # Both were decided and ledgered, after the lab's entry: no gap in the doctor's entries counts them.
    entries = {e["seq"]: e for e in harness.entries()}
    hidden = [entries[got[0].ledger_seq + 1], entries[got[0].ledger_seq + 2]]
    assert {e["record"] for e in hidden} == {world.records["hiv"], world.records["psy"]}
    assert all(e["actor"] == "org:" + world.doctor.id and e["allowed"] is False for e in hidden)
    # The patient's history keeps the full reasons.
    events = world.patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
        patient_id=world.patient.id, page_size=1000)).events
    hidden_seqs = {e["seq"] for e in hidden}
    reasons = {e.record_id: list(e.reasons) for e in events if e.ledger_seq in hidden_seqs}
    assert "sensitive label HIV needs a consent that names category hiv-sti" in reasons[world.records["hiv"]]
    assert "category mental-health is sensitive and needs a consent that names it" in reasons[world.records["psy"]]


def test_a_consented_doctor_cannot_probe_for_a_sensitive_record(harness: Harness, world: World) -> None:
    doctor, patient_id = world.doctor, world.patient.id
    nothing = ("answered", [])
    assert answer(fetch(doctor, patient_id, categories=["mental-health"])) == nothing
    assert answer(fetch(doctor, patient_id, categories=["hiv-sti"])) == nothing  # no record of this category
    assert answer(fetch(doctor, patient_id, categories=["condition"])) == nothing  # the HIV-labelled one
    for name in ("hiv", "psy"):
        assert answer(fetch(doctor, patient_id, record_ids=[world.records[name]])) == nothing
    assert answer(fetch(doctor, patient_id, record_ids=[str(uuid.uuid4())])) == nothing


def test_a_withheld_record_that_is_not_sensitive_is_named_with_its_reasons(harness: Harness, world: World) -> None:
    [item] = world.doctor.client.fetch(world.patient.id, "PUBHLTH", recipient_key=world.doctor.encryption,
                                       service_key=harness.service_key)
    assert item.record_id == world.records["lab"] and not item.shared
    assert item.reasons == (f"consent {world.consent_id} does not cover purpose PUBHLTH",
                            "no active consent from the patient covers category lab for purpose PUBHLTH")
    assert json.loads(item.ledger_entry)["reasons"] == list(item.reasons)  # provable, and nothing more in it


def test_the_holder_is_told_of_its_own_sensitive_records_without_a_sensitive_reason(
        harness: Harness, world: World) -> None:
    got = {r.record_id: r for r in world.hospital.client.fetch(
        world.patient.id, "TREAT", recipient_key=world.hospital.encryption, service_key=harness.service_key)}
    assert set(got) == set(world.records.values()) and not any(r.shared for r in got.values())
    # Every reason naming HIV or mental health is left out. The ledger entry, which proves the
    # outcome, still comes: it names only the category and labels the holder filed.
    hiv, psy = got[world.records["hiv"]], got[world.records["psy"]]
    assert hiv.reasons == ("no active consent from the patient covers category condition for purpose TREAT",)
    assert psy.reasons == (WITHHELD,)
    assert json.loads(psy.ledger_entry)["category"] == "mental-health"
    for item in (hiv, psy):
        proof = world.hospital.client.verify_disclosure(item, harness.app.ledger_verifier_key)
        assert proof.entry["record"] == item.record_id and proof.entry["allowed"] is False
    lab = got[world.records["lab"]]
    assert lab.reasons == ("no active consent from the patient covers category lab for purpose TREAT",)
    assert json.loads(lab.ledger_entry)["reasons"] == list(lab.reasons)


# -- existence oracles: calls naming a patient -----------------------------------------------------

PATIENT_CALLS: dict[str, Callable] = {
    "ListConsents": lambda c, pid, w: c.consent.ListConsents(consent_pb2.ListConsentsRequest(patient_id=pid)),
    "GrantConsent": lambda c, pid, w: c.consent.GrantConsent(consent_pb2.GrantConsentRequest(
        patient_id=pid, grantee=w.doctor.id, notice=w.doctor.notice, terms=LAB_TERMS)),
    "GetAccessHistory": lambda c, pid, w: c.consent.GetAccessHistory(
        consent_pb2.GetAccessHistoryRequest(patient_id=pid)),
    "ListProxies": lambda c, pid, w: c.consent.ListProxies(consent_pb2.ListProxiesRequest(patient_id=pid)),
    "AddProxy": lambda c, pid, w: c.consent.AddProxy(consent_pb2.AddProxyRequest(
        patient_id=pid, proxy_id=w.stranger.id, relationship="friend",
        scopes=[consent_pb2.PROXY_SCOPE_MANAGE_CONSENTS])),
    "RemoveProxy": lambda c, pid, w: c.consent.RemoveProxy(consent_pb2.RemoveProxyRequest(
        patient_id=pid, proxy_id=w.stranger.id)),
    "ListAccessRequests": lambda c, pid, w: c.consent.ListAccessRequests(
        consent_pb2.ListAccessRequestsRequest(patient_id=pid)),
    "ListEntries": lambda c, pid, w: c.audit.ListEntries(audit_pb2.ListEntriesRequest(patient_id=pid)),
    "ListRecords": lambda c, pid, w: c.exchange.ListRecords(exchange_pb2.ListRecordsRequest(patient_id=pid)),
}
# What an institution with no relationship gets from them: its own (none), or a refusal.
ANSWERED_TO_INSTITUTIONS = {"ListConsents", "ListAccessRequests", "ListRecords"}


@pytest.mark.parametrize("caller", ["patient", "institution"])
@pytest.mark.parametrize("rpc", sorted(PATIENT_CALLS))
def test_a_call_naming_a_patient_answers_alike_for_someone_elses_patient_and_no_one(
        harness: Harness, world: World, rpc: str, caller: str) -> None:
    client = world.stranger.client if caller == "patient" else world.outsider.client
    nobody = unknown_id()
    enrolled, enrolled_entries = new_entries(harness, lambda: PATIENT_CALLS[rpc](client, world.patient.id, world))
    unknown, unknown_entries = new_entries(harness, lambda: PATIENT_CALLS[rpc](client, nobody, world))
    assert enrolled == unknown
    if caller == "institution" and rpc in ANSWERED_TO_INSTITUTIONS:
        # Its read is ledgered alike too: one entry naming no patient, listed for the enrolled one.
        assert enrolled[0] == "answered"
        [seen], [unseen] = enrolled_entries, unknown_entries
        assert _position_free(seen) == _position_free(unseen) and seen["kind"] == "metadata.read"
        assert seen["count"] == 0 and "patient" not in seen and seen["seq"] in listed_for(harness, world.patient.id)
        assert harness.sql("SELECT count(*) FROM ledger_subjects WHERE seq = :s", s=unseen["seq"])[0][0] == 0
        assert_never_pseudonymised(harness, nobody)
        return
    assert enrolled[0] == grpc.StatusCode.PERMISSION_DENIED
    assert_one_refusal(harness, enrolled_entries, world.patient.id)
    assert_one_refusal(harness, unknown_entries, None)
    assert_never_pseudonymised(harness, nobody)


def _position_free(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("seq", "prev", "time", "salt")}


def test_an_institution_lists_no_records_but_its_own_for_anyone(harness: Harness, world: World) -> None:
    def records(org: Org, patient_id: str) -> tuple:
        return answer(lambda: org.client.exchange.ListRecords(exchange_pb2.ListRecordsRequest(patient_id=patient_id)))

    assert records(world.doctor, world.patient.id) == records(world.doctor, unknown_id()) == ("answered", [b""])
    assert len(world.hospital.client.exchange.ListRecords(
        exchange_pb2.ListRecordsRequest(patient_id=world.patient.id)).records) == len(world.records)


# -- existence oracles: objects named by id --------------------------------------------------------

ID_CALLS: dict[str, tuple[str, Callable]] = {
    "GetConsent": ("consent", lambda c, i: c.consent.GetConsent(consent_pb2.GetConsentRequest(consent_id=i))),
    "ExportConsent": ("consent", lambda c, i: c.consent.ExportConsent(consent_pb2.ExportConsentRequest(consent_id=i))),
    "NarrowConsent": ("consent", lambda c, i: c.consent.NarrowConsent(consent_pb2.NarrowConsentRequest(
        consent_id=i, terms=LAB_TERMS))),
    "RevokeConsent": ("consent", lambda c, i: c.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=i))),
    "GetAccessRequest": ("request", lambda c, i: c.consent.GetAccessRequest(
        consent_pb2.GetAccessRequestRequest(request_id=i))),
    "ApproveAccessRequest": ("request", lambda c, i: c.consent.ApproveAccessRequest(
        consent_pb2.ApproveAccessRequestRequest(request_id=i))),
    "DeclineAccessRequest": ("request", lambda c, i: c.consent.DeclineAccessRequest(
        consent_pb2.DeclineAccessRequestRequest(request_id=i))),
    "EraseRecord": ("record", lambda c, i: c.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(
        record_id=i, reason="probe"))),
}
# Calls only a patient (or proxy) makes: an institution is refused them whatever the id.
PATIENTS_ONLY = {"NarrowConsent", "RevokeConsent", "ApproveAccessRequest", "DeclineAccessRequest"}


@pytest.mark.parametrize("caller", ["patient", "institution"])
@pytest.mark.parametrize("rpc", sorted(ID_CALLS))
def test_an_id_the_caller_may_not_see_answers_as_one_that_does_not_exist(
        harness: Harness, world: World, rpc: str, caller: str) -> None:
    client = world.stranger.client if caller == "patient" else world.outsider.client
    kind, call = ID_CALLS[rpc]
    real_id = {"consent": world.consent_id, "request": world.request_id, "record": world.records["hiv"]}[kind]
    real, real_entries = new_entries(harness, lambda: call(client, real_id))
    made_up, made_up_entries = new_entries(harness, lambda: call(client, str(uuid.uuid4())))
    assert real == made_up
    if caller == "institution" and rpc in PATIENTS_ONLY:
        assert real[0] == grpc.StatusCode.PERMISSION_DENIED
        assert_one_refusal(harness, real_entries, None)  # refused before the id was looked up
    else:
        assert real[0] == grpc.StatusCode.NOT_FOUND
        assert_one_refusal(harness, real_entries, world.patient.id)  # the patient sees the attempt
    assert_one_refusal(harness, made_up_entries, None)


# -- asking for access, and depositing -------------------------------------------------------------

def test_asking_for_an_unknown_patient_is_accepted_like_any_request_and_expires(
        harness: Harness, world: World) -> None:
    asker, nobody = harness.org(), unknown_id()
    expire = Timestamp()
    expire.FromNanoseconds(time.time_ns() + 2 * 10**9)

    def ask(patient_id: str) -> consent_pb2.AccessRequest:
        return asker.client.consent.RequestAccess(consent_pb2.RequestAccessRequest(notice=asker.notice,
            patient_id=patient_id, terms=LAB_TERMS, reason="referral", expire_time=expire)).request

    before = len(harness.entries())
    enrolled, unknown = ask(world.patient.id), ask(nobody)
    entries = harness.entries()[before:]
    for got, patient_id in ((enrolled, world.patient.id), (unknown, nobody)):
        assert got.status == consent_pb2.ACCESS_REQUEST_STATUS_PENDING and got.patient_id == patient_id
        assert got.requester == asker.id and got.expire_time == expire
    assert [e["kind"] for e in entries] == ["consent.requested", "consent.requested"]
    assert entries[0]["patient"] == harness.pseudonym(world.patient.id)
    assert "patient" not in entries[1]  # ledgered without a patient
    assert_never_pseudonymised(harness, nobody)
    time.sleep(2.2)
    for got in (enrolled, unknown):  # unanswered, each simply expires
        seen = asker.client.consent.GetAccessRequest(
            consent_pb2.GetAccessRequestRequest(request_id=got.request_id)).request
        assert seen.status == consent_pb2.ACCESS_REQUEST_STATUS_EXPIRED


def test_a_holder_depositing_for_an_unknown_id_is_told_and_nothing_is_pseudonymised(
        harness: Harness, world: World) -> None:
    # The holder has the patient in its own records; it must know its deposit was not filed.
    nobody = unknown_id()
    resource, _ = deposits(nobody)["lab"]
    got, entries = new_entries(harness, lambda: world.hospital.client.exchange.PutRecord(
        exchange_pb2.PutRecordRequest(patient_id=nobody, fhir_json=json.dumps(resource).encode())))
    assert got[0] == grpc.StatusCode.NOT_FOUND
    assert_one_refusal(harness, entries, None)
    assert_never_pseudonymised(harness, nobody)


# -- pseudonyms: research subjects, what institutions are told, keyed content hashes ---------------

def research_registry(harness: Harness, world: World) -> tuple[Org, consent_pb2.Consent]:
    """A research registry holding a research consent from the world's patient for lab results."""
    registry = harness.org(kind=registry_pb2.INSTITUTION_KIND_RESEARCH_REGISTRY, role="researcher",
                           practitioner="r-osei")
    consent = grant(world.patient, registry, ["lab"], purposes=("HRESCH",), kind=consent_pb2.CONSENT_KIND_RESEARCH)
    return registry, consent


def research_fetch(org: Org, subject_id: str) -> Callable[[], object]:
    request = exchange_pb2.FetchRecordsRequest(subject_id=subject_id, purpose="HRESCH", nonce=NONCE)
    return lambda: org.client.exchange.FetchRecords(request)


def lab_body(patient_id: str) -> bytes:
    return json.dumps(deposits(patient_id)["lab"][0]).encode()


def test_a_research_fetch_carries_no_patient_id_no_content_hash_and_no_ledger_pseudonym(
        harness: Harness, world: World) -> None:
    registry, consent = research_registry(harness, world)
    secret, subject = harness.app.trail.pseudonym_key, consent.subject_id
    [response] = list(research_fetch(registry, subject)())
    raw = response.SerializeToString()
    body = lab_body(world.patient.id)
    for revealing in (world.patient.id, harness.pseudonym(world.patient.id),
                      hashlib.sha256(body).hexdigest(), derived.content_hash(secret, world.hospital.id, body)):
        assert revealing.encode() not in raw
    record = response.shared.record
    assert record.record_id == world.records["lab"] and record.patient_id == "" and record.content_hash == ""
    assert record.subject_id == subject
    # The entry names the subject's own pseudonym, not the one this registry would see in a
    # treatment fetch for the patient: the two cannot be linked through the ledger.
    named = json.loads(response.ledger_entry)["patient"]
    assert named == derived.research_pseudonym(secret, subject)
    assert named != derived.institution_pseudonym(secret, registry.id, world.patient.id)
    # Still byte-exact: the registry proves the disclosure, and the body names only the subject.
    [item] = registry.client.fetch("", "HRESCH", subject_id=subject, recipient_key=registry.encryption,
                                   service_key=harness.service_key, prove=True,
                                   ledger_key=harness.app.ledger_verifier_key)
    assert item.proof is not None and item.proof.entry["patient"] == named
    assert world.patient.id.encode() not in (item.body or b"")
    assert item.resource()["subject"]["reference"] == "Patient/" + subject
    events = world.patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
        patient_id=world.patient.id, page_size=1000)).events
    assert {response.ledger_seq, item.ledger_seq} <= {e.ledger_seq for e in events}  # the patient sees both


def test_research_by_patient_id_is_invalid_whoever_the_id_names(harness: Harness, world: World) -> None:
    registry, _consent = research_registry(harness, world)
    enrolled, enrolled_entries = new_entries(harness, fetch(registry, world.patient.id, "HRESCH"))
    unknown, unknown_entries = new_entries(harness, fetch(registry, unknown_id(), "HRESCH"))
    assert enrolled[0] == grpc.StatusCode.INVALID_ARGUMENT and enrolled == unknown
    with pytest.raises(grpc.RpcError) as err:
        list(fetch(registry, world.patient.id, "HRESCH")())
    assert field_violations(err.value) == {
        "patient_id": "must be empty for research (HRESCH): name the research subject with subject_id",
        "subject_id": "must be the subject_id of a research consent (32 lower-case hex digits) for research (HRESCH)"}
    assert_one_refusal(harness, enrolled_entries, None)  # refused before any id was looked up
    assert_one_refusal(harness, unknown_entries, None)


def test_a_foreign_made_up_or_revoked_subject_id_answers_like_an_unrelated_patient(
        harness: Harness, world: World) -> None:
    registry, consent = research_registry(harness, world)
    other, _its_own = research_registry(harness, world)
    unrelated = answer(fetch(world.outsider, world.patient.id))
    foreign, foreign_entries = new_entries(harness, research_fetch(other, consent.subject_id))
    made_up, made_up_entries = new_entries(harness, research_fetch(other, secrets.token_hex(16)))
    assert unrelated[0] == grpc.StatusCode.PERMISSION_DENIED
    assert foreign == made_up == unrelated  # code, message and details: the same bytes
    assert_one_refusal(harness, foreign_entries, world.patient.id)  # someone else's subject id: the patient sees it
    assert_one_refusal(harness, made_up_entries, None)
    world.patient.client.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    revoked, revoked_entries = new_entries(harness, research_fetch(registry, consent.subject_id))
    assert revoked == unrelated
    assert_one_refusal(harness, revoked_entries, world.patient.id)


@pytest.mark.parametrize("caller", ["auditor", "institution"])
def test_a_refusal_naming_an_enrolled_patient_pseudonymises_no_one_yet_the_patient_sees_it(
        harness: Harness, world: World, caller: str) -> None:
    if caller == "auditor":
        auditor = harness.auditor()
        actor, call = "auditor:" + auditor.id, lambda: auditor.client.consent.GetAccessHistory(
            consent_pb2.GetAccessHistoryRequest(patient_id=world.patient.id))
    else:
        actor, call = "org:" + world.outsider.id, fetch(world.outsider, world.patient.id)
    got, entries = new_entries(harness, call)
    assert got[0] == grpc.StatusCode.PERMISSION_DENIED
    assert_one_refusal(harness, entries, world.patient.id)
    [entry] = entries
    assert entry["actor"] == actor
    # No pseudonym anywhere in the entry's exact bytes: reading the ledger pairs no typed id with one.
    assert harness.pseudonym(world.patient.id).encode() not in harness.raw_ledger()[entry["seq"]]
    events = world.patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
        patient_id=world.patient.id, page_size=1000)).events
    [event] = [e for e in events if e.ledger_seq == entry["seq"]]
    assert not event.allowed and actor.endswith(event.institution_id)


def test_a_refusal_of_the_patient_in_person_names_them(harness: Harness, world: World) -> None:
    # The patient may act for themselves: the ledger names them, as in their other events.
    got, entries = new_entries(harness, lambda: world.patient.client.exchange.EraseRecord(
        exchange_pb2.EraseRecordRequest(record_id=world.records["lab"], reason="mine")))
    assert got[0] == grpc.StatusCode.PERMISSION_DENIED  # a lab result is retained by its holder
    assert [e["kind"] for e in entries] == ["call.refused"]
    assert entries[0]["patient"] == harness.pseudonym(world.patient.id)


def test_institutions_never_receive_the_ledger_pseudonym(harness: Harness, world: World) -> None:
    ledger_pseudonym, secret = harness.pseudonym(world.patient.id), harness.app.trail.pseudonym_key
    named = {}
    for org in (world.doctor, world.hospital):
        responses = list(fetch(org, world.patient.id)())
        assert responses and ledger_pseudonym.encode() not in b"".join(r.SerializeToString() for r in responses)
        named[org.id] = {json.loads(r.ledger_entry)["patient"] for r in responses if r.ledger_entry}
        assert named[org.id] == {derived.institution_pseudonym(secret, org.id, world.patient.id)}
    assert named[world.doctor.id] != named[world.hospital.id]
    # The consent and record events keep the ledger pseudonym; the access entries are the doctor's
    # own, still byte-exact for its proof, and in the patient's history.
    deposited = [e for e in harness.entries() if e["kind"] == "record.deposited" and e["record"] in
                 world.records.values()]
    assert len(deposited) == 3 and all(e["patient"] == ledger_pseudonym for e in deposited)
    [item] = world.doctor.client.fetch(world.patient.id, "TREAT", recipient_key=world.doctor.encryption,
                                       service_key=harness.service_key, prove=True,
                                       ledger_key=harness.app.ledger_verifier_key)
    assert item.proof is not None and {item.proof.entry["patient"]} == named[world.doctor.id]
    events = world.patient.client.consent.GetAccessHistory(consent_pb2.GetAccessHistoryRequest(
        patient_id=world.patient.id, page_size=1000)).events
    assert item.ledger_seq in {e.ledger_seq for e in events}


def test_the_content_hash_is_keyed_for_its_holder_shown_to_no_one_else_and_erased(harness: Harness,
                                                                                   world: World) -> None:
    patient, other_holder = harness.patient(), harness.org()
    grant(patient, world.doctor, ["lab"])
    body, secret = lab_body(patient.id), harness.app.trail.pseudonym_key

    def put(org: Org) -> exchange_pb2.RecordMetadata:
        request = exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body)
        return org.client.exchange.PutRecord(request).record

    mine, theirs, plain = put(world.hospital), put(other_holder), hashlib.sha256(body).hexdigest()
    assert mine.content_hash == derived.content_hash(secret, world.hospital.id, body) != plain
    assert theirs.content_hash not in ("", plain, mine.content_hash)  # no equality across holders either
    list_records = exchange_pb2.ListRecordsRequest(patient_id=patient.id)
    [listed] = world.hospital.client.exchange.ListRecords(list_records).records
    assert listed.content_hash == mine.content_hash
    by_patient = patient.client.exchange.ListRecords(list_records).records
    assert len(by_patient) == 2 and all(r.content_hash == "" for r in by_patient)
    responses = list(fetch(world.doctor, patient.id)())
    assert [r.HasField("shared") for r in responses] == [True, True]
    assert all(r.shared.record.content_hash == "" for r in responses)
    raw = b"".join(r.SerializeToString() for r in responses)
    assert not any(h.encode() in raw for h in (plain, mine.content_hash, theirs.content_hash))
    erased = world.hospital.client.exchange.EraseRecord(exchange_pb2.EraseRecordRequest(
        record_id=mine.record_id, reason="deposited twice")).record
    assert erased.erased and erased.content_hash == ""
    assert harness.sql("SELECT content_hash FROM records WHERE record_id = :r", r=mine.record_id)[0][0] is None
