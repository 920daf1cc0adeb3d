"""Tampering: requests built to break the server rather than to ask it anything, and answers
changed on their way to the client.

Every bad input is INVALID_ARGUMENT with field violations naming where (never echoing what), is
ledgered as the caller's refusal, bounded, with nothing of the caller's text in it, and leaves
the server answering. None may end INTERNAL. A share package that does not answer the fetch it
arrives in (another patient's, another fetch's, another purpose's, a repeat, a stale one) is
refused by the SDK before anything of it is used.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.message import Message
from harness import NONCE, Harness, Org, Person, field_violations, grant

from consentry.services.cli.demo import discharge_records
from consentry.services.crypto.errors import (
    CryptoError,
    OutsideTimeWindow,
    ReplayedShare,
    WrongFetchNonce,
    WrongPatient,
    WrongPurpose,
)
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client, FetchedRecord
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2

V1 = "/consentry.v1."
DEEP = 100_000


@dataclass
class People:
    org: Caller
    patient: Caller
    auditor: Caller
    patient_id: str
    org_id: str


@pytest.fixture(scope="module")
def people(harness) -> People:
    org, patient, auditor = harness.org(practitioner="dr-t"), harness.patient(), harness.auditor()
    return People(Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-t"),
                  Caller("patient:" + patient.id, patient.identity),
                  Caller("auditor:" + auditor.id, auditor.identity), patient.id, org.id)


def send(harness: Harness, caller: Caller | None, method: str, raw: bytes) -> grpc.RpcError:
    """Sends `raw` as it is (no client-side serializer) and returns the error it must end in."""
    metadata = [("authorization", "Bearer " + caller.token(V1 + method, raw))] if caller else []
    with grpc.insecure_channel(harness.target) as channel:
        try:
            if method == "ExchangeService/FetchRecords":
                list(channel.unary_stream(V1 + method)(raw, metadata=metadata, timeout=30))
            else:
                channel.unary_unary(V1 + method)(raw, metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            return error
    raise AssertionError(f"{method} accepted a tampered request")


def _fetch(people: People, **fields) -> bytes:
    fields = {"nonce": NONCE, **fields}
    return exchange_pb2.FetchRecordsRequest(patient_id=people.patient_id, purpose="TREAT", **fields).SerializeToString()


def _with_bad_utf8(message: Message, placeholder: str) -> bytes:
    """`message` on the wire with `placeholder`'s bytes in a string field replaced by invalid UTF-8."""
    raw = message.SerializeToString()
    assert placeholder.encode() in raw
    return raw.replace(placeholder.encode(), b"\xff" * len(placeholder))


# (who calls, method, request bytes, the violations it must get)
Case = tuple[str, str, Callable[[People], bytes], dict[str, str]]
CASES: dict[str, Case] = {
    "malformed protobuf": ("org", "ExchangeService/FetchRecords", lambda p: b"\x0a\xff\xff\xff\xff\x0f", {
        "request": "must be a well-formed consentry.v1.FetchRecordsRequest message (protobuf wire format, "
                   "strings in UTF-8)"}),
    "a truncated message": ("patient", "ConsentService/GrantConsent",
                            lambda p: consent_pb2.GrantConsentRequest(patient_id=p.patient_id).SerializeToString()[:-3],
                            {"request": "must be a well-formed consentry.v1.GrantConsentRequest message (protobuf "
                                        "wire format, strings in UTF-8)"}),
    "invalid UTF-8 in a string field": (
        "org", "ExchangeService/PutRecord",
        lambda p: _with_bad_utf8(exchange_pb2.PutRecordRequest(patient_id="PLACEHOLDER", fhir_json=b"{}"),
                                 "PLACEHOLDER"),
        {"request": "must be a well-formed consentry.v1.PutRecordRequest message (protobuf wire format, "
                    "strings in UTF-8)"}),
    "a deposit nested 100000 deep": (
        "org", "ExchangeService/PutRecord",
        lambda p: exchange_pb2.PutRecordRequest(patient_id=p.patient_id, fhir_json=b"[" * DEEP).SerializeToString(),
        {"fhir_json": "must not nest deeper than 64 levels"}),
    "a FHIR consent nested 100000 deep": (
        "patient", "ConsentService/ImportConsent",
        lambda p: consent_pb2.ImportConsentRequest(fhir_json='{"a":' * 10_000 + "[" * 10_000).SerializeToString(),
        {"fhir_json": "must not nest deeper than 64 levels"}),
    "a deposit carrying 1000 security labels": (
        "org", "ExchangeService/PutRecord",
        lambda p: exchange_pb2.PutRecordRequest(patient_id=p.patient_id, fhir_json=json.dumps({
            "resourceType": "Condition", "subject": {"reference": "Patient/" + p.patient_id},
            "meta": {"security": [{"code": f"L{i}"} for i in range(1000)]}}).encode()).SerializeToString(),
        {"fhir_json": "must carry at most 32 distinct security labels, with those in labels"}),
    "a ledger position past any database integer": (
        "auditor", "AuditService/ListEntries", lambda p: audit_pb2.ListEntriesRequest(start=2**63).SerializeToString(),
        {"start": "must be at most 9223372036854775807"}),
    "an inclusion proof for the largest seq": (
        "auditor", "AuditService/GetInclusionProof",
        lambda p: audit_pb2.GetInclusionProofRequest(seq=2**64 - 1, tree_size=2**64 - 1).SerializeToString(),
        {"seq": "must be at most 9223372036854775807", "tree_size": "must be at most 9223372036854775807"}),
    "a 30-digit page token": (
        "patient", "ConsentService/GetAccessHistory",
        lambda p: consent_pb2.GetAccessHistoryRequest(patient_id=p.patient_id, page_token="9" * 30).SerializeToString(),
        {"page_token": "must be a token from an earlier page"}),
    "a page token of Arabic-Indic digits": (
        "patient", "ConsentService/GetAccessHistory",
        lambda p: consent_pb2.GetAccessHistoryRequest(patient_id=p.patient_id, page_token="١٢").SerializeToString(),
        {"page_token": "must be a token from an earlier page"}),
    "a page token that is no record id": (
        "org", "ExchangeService/ListRecords",
        lambda p: exchange_pb2.ListRecordsRequest(patient_id=p.patient_id,
                                                  page_token="' OR 1=1 --").SerializeToString(),
        {"page_token": "must be a token from an earlier page"}),
    "an expiry 2^62 seconds away": (
        "org", "ConsentService/RequestAccess",
        lambda p: consent_pb2.RequestAccessRequest(
            patient_id=p.patient_id, reason="follow-up", terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=[
                "TREAT"]), expire_time={"seconds": 2**62}).SerializeToString(),
        {"expire_time": "must be a time from 1678-01-01 to 2261-12-31"}),
    "a validity ending 2^62 seconds before the epoch, with negative nanos": (
        "patient", "ConsentService/GrantConsent",
        lambda p: consent_pb2.GrantConsentRequest(
            patient_id=p.patient_id, grantee=p.org_id, terms=consent_pb2.ConsentTerms(
                categories=["lab"], purposes=["TREAT"], validity={"start": {"seconds": 0, "nanos": -1},
                                                                  "end": {"seconds": -(2**62)}})).SerializeToString(),
        {"terms.validity.start.nanos": "must be from 0 to 999999999",
         "terms.validity.end": "must be a time from 1678-01-01 to 2261-12-31"}),
    "a patient id with a trailing newline": (
        "org", "ExchangeService/FetchRecords",
        lambda p: exchange_pb2.FetchRecordsRequest(patient_id=p.patient_id + "\n", purpose="TREAT",
                                                   nonce=NONCE).SerializeToString(),
        {"patient_id": "must be 1-128 characters: letters, digits, '.', '_' and '-'"}),
    "a fetch without a nonce": (
        "org", "ExchangeService/FetchRecords", lambda p: _fetch(p, nonce=b""),
        {"nonce": "must be 16 to 64 random bytes, fresh for each fetch"}),
    "a fetch nonce of 15 bytes": (
        "org", "ExchangeService/FetchRecords", lambda p: _fetch(p, nonce=bytes(15)),
        {"nonce": "must be 16 to 64 random bytes, fresh for each fetch"}),
    "a fetch nonce of a megabyte": (
        "org", "ExchangeService/FetchRecords", lambda p: _fetch(p, nonce=bytes(1_000_000)),
        {"nonce": "must be at most 64 bytes"}),
    "an institution id with a trailing newline": (
        "org", "RegistryService/GetInstitution",
        lambda p: registry_pb2.GetInstitutionRequest(institution_id=p.org_id + "\n").SerializeToString(),
        {"institution_id": "must be 3-64 characters: lower-case letters, digits and '-'"}),
    "a record id one character too long": (
        "org", "ExchangeService/EraseRecord",
        lambda p: exchange_pb2.EraseRecordRequest(record_id="0" * 8 + "-0000-0000-0000-" + "0" * 12 + "\n",
                                                  reason="wrong patient").SerializeToString(),
        {"record_id": "must be at most 36 characters"}),
    "a NUL in a reason": (
        "patient", "ConsentService/RevokeConsent",
        lambda p: consent_pb2.RevokeConsentRequest(consent_id="0" * 8 + "-0000-0000-0000-" + "0" * 12,
                                                   reason="moved\x00away").SerializeToString(),
        {"reason": "must not contain control characters"}),
    "an undeclared enum value": (
        "patient", "ConsentService/AddProxy",
        lambda p: consent_pb2.AddProxyRequest(patient_id=p.patient_id, proxy_id="someone", relationship="son",
                                              scopes=[1, 7]).SerializeToString(),
        {"scopes[1]": "must be one of the enum's declared values"}),
    "a public key of a megabyte": (
        "org", "RegistryService/RotateInstitutionKey",
        lambda p: registry_pb2.RotateInstitutionKeyRequest(institution_id=p.org_id, type=1,
                                                           public_key=b"k" * 1_000_000).SerializeToString(),
        {"public_key": "must be at most 32 bytes"}),
    "an idempotency key of 10000 characters": (
        "patient", "ConsentService/GrantConsent",
        lambda p: consent_pb2.GrantConsentRequest(patient_id=p.patient_id, grantee=p.org_id,
                                                  idempotency_key="k" * 10_000).SerializeToString(),
        {"idempotency_key": "must be at most 128 characters"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_input_is_invalid_argument_ledgered_and_the_server_still_answers(harness, people, case):
    who, method, build, expected = CASES[case]
    caller: Caller = getattr(people, who)
    before = len(harness.raw_entries())
    error = send(harness, caller, method, build(people))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert field_violations(error) == expected
    [refusal] = [e for e in harness.entries()[before:] if e["kind"] == "call.refused"]
    assert refusal["method"] == V1 + method and refusal["status"] == "INVALID_ARGUMENT"
    assert refusal["reasons"] == [f"{field}: {why}" for field, why in expected.items()]
    assert refusal["actor"] == harness.app.trail.actor(caller.principal)
    assert len(json.dumps(refusal)) < 2048
    assert harness.operator.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).ledger_origin


def test_undecodable_bytes_without_a_token_are_unauthenticated_not_internal(harness):
    error = send(harness, None, "ExchangeService/FetchRecords", b"\x0a\xff\xff\xff\xff\x0f")
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    [summary] = harness.flush_refusals()
    assert summary["failures"] == {"no_token": 1} and summary["actor"] == "anonymous"


def test_a_fhir_member_name_is_never_echoed_in_the_error_or_the_ledger(harness, people):
    """An unknown member is the caller's own text: the violation names the object holding it."""
    doctor = harness.org()
    patient_client = harness.client(people.patient)
    granted = patient_client.consent.GrantConsent(consent_pb2.GrantConsentRequest(
        patient_id=people.patient_id, grantee=doctor.id,
        terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
    exported = json.loads(patient_client.consent.ExportConsent(
        consent_pb2.ExportConsentRequest(consent_id=granted.consent.consent_id)).fhir_json)
    secret = "Jane-Doe-HIV-positive"
    exported["provision"][secret] = True
    exported[secret + "-too"] = 1
    before = len(harness.raw_entries())
    with pytest.raises(grpc.RpcError) as err:
        patient_client.consent.ImportConsent(consent_pb2.ImportConsentRequest(fhir_json=json.dumps(exported)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(err.value)
    assert set(violations) == {"fhir_json", "fhir_json.provision"}
    assert secret not in err.value.details() + json.dumps(violations)
    assert secret not in json.dumps(harness.entries()[before:])


# -- share packages that do not answer the fetch they arrive in ---------------------------------
# Whoever sits between the SDK and the server (a plaintext channel) delivers genuine packages —
# signed by the service, sealed to this very recipient — that answer some other request. The SDK
# must refuse each before anything of it is used.


@dataclass
class Swap:
    doctor: Org
    patient_a: Person
    patient_b: Person


@pytest.fixture(scope="module")
def swap(harness) -> Swap:
    """One recipient, two patients, each with a lab result the recipient may fetch for treatment."""
    hospital, doctor = harness.org(), harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR)
    a, b = harness.patient(), harness.patient()
    for patient in (a, b):
        hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=discharge_records(patient.id)["lab results"]))
        grant(patient, doctor, ["lab"])
    return Swap(doctor, a, b)


class OnPath:
    """Wraps a client's exchange stub: the SDK gets `deliver(stub, request)`'s responses, not its own."""

    def __init__(self, stub, deliver: Callable) -> None:
        self._stub, self._deliver = stub, deliver

    def FetchRecords(self, request, **kw):
        return iter(self._deliver(self._stub, request, **kw))


def received(items) -> tuple[list[FetchedRecord], CryptoError | None]:
    """What the SDK yielded before it refused (if it did), and why."""
    got: list[FetchedRecord] = []
    try:
        got.extend(items)
    except CryptoError as error:
        return got, error
    return got, None


def fetch_through(harness, org: Org, deliver: Callable, patient: Person, purpose: str = "TREAT", *,
                  monkeypatch) -> tuple[list[FetchedRecord], CryptoError | None]:
    """`org` fetches `patient`'s records with the SDK while `deliver` answers in the server's place."""
    monkeypatch.setattr(org.client, "exchange", OnPath(org.client.exchange, deliver))
    return received(org.client.fetch(patient.id, purpose, recipient_key=org.encryption,
                                     service_key=harness.service_key))


def with_fields(request: exchange_pb2.FetchRecordsRequest, **fields) -> exchange_pb2.FetchRecordsRequest:
    changed = exchange_pb2.FetchRecordsRequest()
    changed.CopyFrom(request)
    for name, value in fields.items():
        setattr(changed, name, value)
    return changed


def test_a_package_of_another_patients_earlier_fetch_is_refused(harness, swap, monkeypatch):
    """Patient A's package, from the recipient's own earlier fetch, delivered as the answer to its
    fetch for patient B: it carries the other fetch's nonce."""
    earlier = list(swap.doctor.client.exchange.FetchRecords(exchange_pb2.FetchRecordsRequest(
        patient_id=swap.patient_a.id, purpose="TREAT", nonce=secrets.token_bytes(32))))
    assert [item.HasField("shared") for item in earlier] == [True]
    got, error = fetch_through(harness, swap.doctor, lambda stub, request, **kw: earlier, swap.patient_b,
                               monkeypatch=monkeypatch)
    assert got == [] and isinstance(error, WrongFetchNonce)


def test_another_patients_package_under_this_fetchs_nonce_is_refused(harness, swap, monkeypatch):
    """The server made to answer for patient A under the nonce of the fetch for patient B (as an
    on-path rewrite of the request would): only the patient binding tells, and it does."""
    def patient_a_instead(stub, request, **kw):
        assert request.patient_id == swap.patient_b.id
        return stub.FetchRecords(with_fields(request, patient_id=swap.patient_a.id), **kw)

    got, error = fetch_through(harness, swap.doctor, patient_a_instead, swap.patient_b, monkeypatch=monkeypatch)
    assert got == [] and isinstance(error, WrongPatient)
    monkeypatch.undo()  # the same fetch, answered honestly, is accepted
    [item] = swap.doctor.client.fetch(swap.patient_b.id, "TREAT", recipient_key=swap.doctor.encryption,
                                      service_key=harness.service_key)
    assert item.shared and swap.patient_b.id.encode() in item.body


def test_a_package_released_for_another_purpose_is_refused(harness, swap, monkeypatch):
    def for_treatment(stub, request, **kw):
        assert request.purpose == "HPAYMT"
        return stub.FetchRecords(with_fields(request, purpose="TREAT"), **kw)

    got, error = fetch_through(harness, swap.doctor, for_treatment, swap.patient_a, "HPAYMT", monkeypatch=monkeypatch)
    assert got == [] and isinstance(error, WrongPurpose)


def test_a_replayed_package_is_refused(harness, swap, monkeypatch):
    """The same package twice in one answer: the first is used, the repeat refused by its share id."""
    def twice(stub, request, **kw):
        [item] = stub.FetchRecords(request, **kw)
        return [item, item]

    got, error = fetch_through(harness, swap.doctor, twice, swap.patient_a, monkeypatch=monkeypatch)
    assert [r.shared for r in got] == [True] and isinstance(error, ReplayedShare)
    assert got[0].header["share_id"] in str(error)


def test_a_stale_package_is_refused_and_the_window_is_the_clients(harness, swap):
    """A package held back (here: a client clock ten minutes on) is outside the default window of
    five minutes; a client that allows fifteen accepts it."""
    later = lambda: datetime.now(UTC) + timedelta(minutes=10)  # noqa: E731
    caller = Caller("org:" + swap.doctor.id, swap.doctor.identity, role="physician", practitioner="dr-test")
    for window, accepted in ((None, False), (timedelta(minutes=15), True)):
        kw = {"time_window": window} if window else {}
        with Client(harness.target, caller, clock=later, **kw) as client:
            got, error = received(client.fetch(swap.patient_a.id, "TREAT", recipient_key=swap.doctor.encryption,
                                               service_key=harness.service_key))
        if accepted:
            assert error is None and [r.shared for r in got] == [True]
        else:
            assert got == [] and isinstance(error, OutsideTimeWindow)
