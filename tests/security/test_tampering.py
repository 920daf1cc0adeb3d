"""Tampering: requests built to break the server rather than to ask it anything, answers changed
on their way to the client, and a ledger that shows different histories to different viewers.

Every bad input is INVALID_ARGUMENT with field violations naming where (never echoing what), is
ledgered as the caller's refusal, bounded, with nothing of the caller's text in it, and leaves
the server answering. None may end INTERNAL. A share package that does not answer the fetch it
arrives in (another patient's, another fetch's, another purpose's, a repeat, a stale one) is
refused by the SDK before anything of it is used.

A second history signed with the ledger's own key (a fork), or a smaller one (a rollback), is
refused by a witness over HTTP with the C2SP tlog-witness status, and caught by the CLI and the
SDK, which name both roots and sizes; a checkpoint without its quorum of valid cosignatures by
the witnesses an auditor names is refused.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message
from harness import NONCE, Harness, Org, Person, field_violations, grant
from witness_helpers import (
    CONSENTRY,
    forked_note,
    latest_note,
    ledger_signer,
    second_ledger,
    witness_server,
)

from consentry.ledger import (
    AddCheckpoint,
    Cosigner,
    ForkError,
    NoteSigner,
    NoteVerifier,
    add_signatures,
    origin_hash,
    parse_checkpoint,
    sign_checkpoint,
    split_note,
)
from consentry.ledger.db import LedgerReader
from consentry.ledger.merkle import consistency_proof
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
from consentry.services.store.witnessing import WitnessEndpoint, Witnessing
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
    assert refusal["actor"] == harness.actor(caller.principal)
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
        patient_id=people.patient_id, grantee=doctor.id, notice=doctor.notice,
        terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"])))
    exported = json.loads(patient_client.consent.ExportConsent(
        consent_pb2.ExportConsentRequest(consent_id=granted.consent.consent_id)).fhir_json)
    secret = "Jane-Doe-HIV-positive"
    exported["provision"][secret] = True
    exported[secret + "-too"] = 1
    before = len(harness.raw_entries())
    with pytest.raises(grpc.RpcError) as err:
        patient_client.consent.ImportConsent(consent_pb2.ImportConsentRequest(fhir_json=json.dumps(exported),
                                                                             notice=doctor.notice))
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


# -- a ledger that shows different histories: witnesses, cosignatures and split-view checks ------

def _audit(h: Harness, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CONSENTRY, "audit", *args, "--data-dir", str(h.settings.data_dir)],
                          capture_output=True, text=True, timeout=180)


def _post(url: str, body: bytes) -> tuple[int, str, bytes]:
    """A raw add-checkpoint request: (status, Content-Type, body) of the answer."""
    request = urllib.request.Request(url + "/add-checkpoint", data=body, method="POST")  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as refusal:
        with refusal:
            return refusal.code, refusal.headers["Content-Type"], refusal.read()


@pytest.fixture
def witnessed(harness, tmp_path):
    """A witness over real HTTP that has cosigned the server's latest checkpoint: (URL, witness, note)."""
    harness.patient()
    log_key = NoteVerifier.from_key(harness.app.ledger_verifier_key)
    with witness_server(tmp_path / "state", {harness.settings.ledger_origin: [log_key]}) as (url, witness):
        note = latest_note(harness, refresh=True)
        endpoint = WitnessEndpoint(url, witness.cosigner.verifier)
        assert Witnessing(harness.app.db, [endpoint], 1).round() == 1
        yield url, witness, note


def test_a_witness_refuses_a_forked_checkpoint_over_http(harness, witnessed):
    url, witness, note = witnessed
    size = int(note.split("\n")[1])
    same_size, _ = forked_note(harness, size)
    larger, tree = forked_note(harness, size + 5)
    for request in (AddCheckpoint(size, (), same_size),
                    AddCheckpoint(size, tuple(consistency_proof(size, size + 5, tree)), larger)):
        status, _, body = _post(url, request.to_bytes())
        assert status == 422 and b"does not extend the cosigned checkpoint" in body, body
    signed_by_another = sign_checkpoint(NoteSigner.generate(harness.settings.ledger_origin),
                                        harness.settings.ledger_origin, size + 1, bytes(32))
    assert _post(url, AddCheckpoint(size, (), signed_by_another).to_bytes())[0] == 403
    other_log = sign_checkpoint(NoteSigner.generate("elsewhere.example/log"), "elsewhere.example/log", 1, bytes(32))
    assert _post(url, AddCheckpoint(0, (), other_log).to_bytes())[0] == 404
    assert split_note(witness.cosigned(origin_hash(harness.settings.ledger_origin)))[0] == split_note(note)[0]


def test_a_witness_refuses_a_rollback_over_http(harness, witnessed):
    url, _, note = witnessed
    size = int(note.split("\n")[1])
    with harness.app.db.read() as s:
        earlier = LedgerReader(s.connection()).root(size - 1)
    rolled_back = sign_checkpoint(ledger_signer(harness), harness.settings.ledger_origin, size - 1, earlier)
    status, content_type, body = _post(url, AddCheckpoint(size - 1, (), rolled_back).to_bytes())
    assert (status, content_type, body) == (409, "text/x.tlog.size", f"{size}\n".encode())
    assert _post(url, AddCheckpoint(size, (), rolled_back).to_bytes())[0] == 400  # old size past its own


def test_audit_verify_refuses_too_few_foreign_or_misplaced_cosignatures(harness, tmp_path):
    export = tmp_path / "export"
    assert _audit(harness, "export", "--target", harness.target, "--out", str(export),
                  "--state", str(tmp_path / "export.note")).returncode == 0
    note = (export / "checkpoint.note").read_text()
    text = split_note(note)[0]
    w1, w2, w3, stranger = (Cosigner.generate(f"witness.test/w{i}") for i in range(1, 5))
    now = int(time.time())
    forked_text = split_note(forked_note(harness, int(note.split("\n")[1]))[0])[0]
    key = harness.app.ledger_verifier_key
    witnesses = [a for w in (w1, w2, w3) for a in ("--witness", w.verifier.to_key())]
    cases = {
        "two of three": ([w1.cosign(text, now), w2.cosign(text, now)], "3", "2 valid cosignatures"),
        "a stranger's": ([w1.cosign(text, now), stranger.cosign(text, now)], "2", "1 valid cosignatures"),
        "over another checkpoint": ([w1.cosign(text, now), w2.cosign(forked_text, now)], "1",
                                    "the cosignature by witness.test/w2 does not match this checkpoint"),
    }
    for name, (lines, minimum, expected) in cases.items():
        (export / "checkpoint.note").write_text(add_signatures(note, lines))
        refused = _audit(harness, "verify", str(export), "--key", key, "--state", str(tmp_path / f"{name}.note"),
                         *witnesses, "--min-witnesses", minimum)
        assert refused.returncode == 1 and expected in refused.stderr, (name, refused.stderr)
    (export / "checkpoint.note").write_text(add_signatures(note, [w1.cosign(text, now), w2.cosign(text, now)]))
    accepted = _audit(harness, "verify", str(export), "--key", key, "--state", str(tmp_path / "ok.note"),
                      *witnesses, "--min-witnesses", "2")
    assert accepted.returncode == 0, accepted.stderr


@pytest.fixture
def second_server(harness, tmp_path):
    """A second server with the same ledger key and a longer, different history."""
    other = second_ledger(harness, tmp_path / "second", f"sqlite:///{tmp_path}/second.db", larger_by=7)
    try:
        yield other
    finally:
        other.stop()


def test_the_cli_catches_a_second_history_signed_with_the_same_key(harness, second_server, tmp_path):
    state = str(tmp_path / "trusted.note")
    key = harness.app.ledger_verifier_key
    assert _audit(harness, "verify", "--target", harness.target, "--key", key, "--state", state).returncode == 0
    trusted = parse_checkpoint(split_note(Path(state).read_text())[0])
    for command in (["verify"], ["export", "--out", str(tmp_path / "export")]):
        # What the other server shows now: each command's own reading is ledgered there too.
        shown = parse_checkpoint(split_note(latest_note(second_server, refresh=True))[0])
        forked = _audit(second_server, *command, "--target", second_server.target, "--key", key, "--state", state)
        assert forked.returncode == 1 and "split view" in forked.stderr, forked.stderr
        for fact in (trusted.root.hex(), shown.root.hex(), f"{trusted.size} entries", f"{shown.size} entries"):
            assert fact in forked.stderr
    assert not (tmp_path / "export").exists()  # nothing of the other history was written
    assert Path(state).read_text().startswith(f"{trusted.origin}\n{trusted.size}\n")  # trust unchanged


def test_the_cli_catches_a_rollback_in_a_tampered_state_file(harness, tmp_path):
    state = tmp_path / "trusted.note"
    note = latest_note(harness, refresh=True)
    ahead, tree = forked_note(harness, int(note.split("\n")[1]) + 50)
    state.write_text(ahead)
    rolled = _audit(harness, "verify", "--target", harness.target, "--key", harness.app.ledger_verifier_key,
                    "--state", str(state))
    assert rolled.returncode == 1 and "rollback" in rolled.stderr and tree.root().hex() in rolled.stderr


def _story(h: Harness) -> tuple[Caller, Org, Person]:
    """A hospital's record of a patient who consented to a family doctor reading it."""
    hospital, patient = h.org(), h.patient()
    doctor = h.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, practitioner="dr-split")
    body = discharge_records(patient.id)["discharge summary"]
    hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    grant(patient, doctor, ["discharge-summary"])
    return Caller("org:" + doctor.id, doctor.identity, role="physician", practitioner="dr-split"), doctor, patient


def _fetch_proved(h: Harness, caller: Caller, doctor: Org, patient: Person, trusted: Path) -> list:
    with Client(h.target, caller, trusted_checkpoint=trusted) as client:
        return list(client.fetch(patient.id, "TREAT", recipient_key=doctor.encryption, service_key=h.service_key,
                                 prove=True, ledger_key=h.app.ledger_verifier_key))


def test_the_sdk_catches_a_second_history_signed_with_the_same_key(harness, second_server, tmp_path):
    trusted = tmp_path / "sdk-trusted.note"
    [item] = _fetch_proved(harness, *_story(harness), trusted)
    before = parse_checkpoint(split_note(trusted.read_text())[0])
    assert before.size == item.proof.tree_size
    with pytest.raises(ForkError) as fork:
        _fetch_proved(second_server, *_story(second_server), trusted)
    assert fork.value.trusted == before and fork.value.seen.size > before.size
    for fact in (before.root.hex(), fork.value.seen.root.hex(), f"{before.size} entries",
                 f"{fork.value.seen.size} entries"):
        assert fact in str(fork.value)
    assert parse_checkpoint(split_note(trusted.read_text())[0]) == before


def test_the_sdk_catches_a_fork_planted_in_its_state_file(harness, tmp_path):
    trusted = tmp_path / "sdk-trusted.note"
    caller, doctor, patient = _story(harness)
    _fetch_proved(harness, caller, doctor, patient, trusted)
    real = parse_checkpoint(split_note(trusted.read_text())[0])
    planted, tree = forked_note(harness, real.size)
    trusted.write_text(planted)
    with pytest.raises(ForkError) as fork:
        _fetch_proved(harness, caller, doctor, patient, trusted)
    assert tree.root().hex() in str(fork.value) and fork.value.seen.root.hex() in str(fork.value)
    assert fork.value.trusted.root == tree.root()
