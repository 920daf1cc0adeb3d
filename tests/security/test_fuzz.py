"""A bounded fuzz of every RPC of the four services (Tampering, Denial of service).

Each call sends bytes as they are over a raw channel (no client-side serializer): a random
request of the method's type with edge values (huge integers, out-of-range times, undeclared
enum values, control characters, deep JSON), often then mutated on the wire (bits flipped,
bytes cut or inserted, so that it no longer decodes or its strings are no longer UTF-8), or
plain random bytes, under a valid token of a random principal or none at all. No call may end
INTERNAL or UNKNOWN; afterwards the server still answers its health check, and the ledger, with
every refusal the fuzz made, still verifies against a signed checkpoint.

Time-boxed (CONSENTRY_FUZZ_SECONDS per backend, default 8) with one seed per run, printed in
every failure: CONSENTRY_FUZZ_SEED=<seed> replays it.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from collections import Counter
from typing import Any

import grpc
import pytest
from backends import BACKENDS, database
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import Harness, grant

from consentry.ledger import NoteVerifier, verify_log
from consentry.services.cli.datadir import operator_key
from consentry.services.cli.demo import discharge_records
from consentry.services.identity.tokens import Caller
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2

SECONDS = float(os.environ.get("CONSENTRY_FUZZ_SECONDS", "8"))
# How long a fuzzed watch may stay open (a watch the server accepts ends only at its deadline).
WATCH_S = 1.0
SEED = int(os.environ.get("CONSENTRY_FUZZ_SEED") or secrets.randbits(32))
SERVICES = [module.DESCRIPTOR.services_by_name[name] for module, name in (
    (registry_pb2, "RegistryService"), (consent_pb2, "ConsentService"),
    (exchange_pb2, "ExchangeService"), (audit_pb2, "AuditService"))]
METHODS = [(f"/{s.full_name}/{m.name}", m) for s in SERVICES for m in s.methods]
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


@pytest.fixture(scope="module", params=BACKENDS)
def fuzzed(request, tmp_path_factory):
    """A server of its own, with rates no fuzz reaches, so that every call gets past them."""
    directory = tmp_path_factory.mktemp("fuzz")
    with database(request.param, directory) as url:
        h = Harness.start(directory / "data", url, rate_calls_per_s=1e6, rate_burst=10**6,
                          rate_auth_failures=10**6)
        try:
            yield h
        finally:
            h.stop()


class Material:
    """What a request could name that the server knows, beside what it cannot know."""

    def __init__(self, h: Harness) -> None:
        hospital, doctor = h.org(practitioner="dr-fuzz"), h.org(practitioner="dr-fuzz")
        patient, auditor = h.patient(), h.auditor()
        self.bodies = list(discharge_records(patient.id).values())
        self.record_ids = [hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id=patient.id, fhir_json=body,
            category="mental-health" if b"psychiatr" in body.lower() else "")).record.record_id
            for body in self.bodies]
        consent = grant(patient, doctor, ["lab", "medication"])
        exported = patient.client.consent.ExportConsent(consent_pb2.ExportConsentRequest(consent_id=consent.consent_id))
        self.consent_json = exported.fhir_json
        self.strings = [patient.id, hospital.id, doctor.id, consent.consent_id, *self.record_ids, "TREAT", "ETREAT",
                        "lab", "mental-health", "*", "", "x", "١٢", "12", "9" * 30, "a\n", "a\x00b", "\x7f", "é",
                        "Patient/" + patient.id, "🙂" * 70, "x" * 600, "ed25519:" + "0" * 16]
        self.callers = [
            Caller("operator", operator_key(h.settings)),
            Caller("org:" + hospital.id, hospital.identity, role="physician", practitioner="dr-fuzz"),
            Caller("org:" + doctor.id, doctor.identity, role="physician", practitioner="dr-fuzz"),
            Caller("patient:" + patient.id, patient.identity),
            Caller("auditor:" + auditor.id, auditor.identity),
        ]


class Requests:
    """Random requests of a method's type, and their bytes, mutated or not."""

    def __init__(self, rng: random.Random, material: Material) -> None:
        self.rng = rng
        self.m = material

    def wire(self, descriptor: Descriptor) -> bytes:
        rng = self.rng
        if rng.random() < 0.1:
            return rng.randbytes(rng.randrange(0, 64))
        raw = self.message(descriptor, 0).SerializeToString()
        return self.mutate(raw) if rng.random() < 0.4 else raw

    def mutate(self, raw: bytes) -> bytes:
        data = bytearray(raw or b"\x00")
        for _ in range(self.rng.randrange(1, 4)):
            where = self.rng.randrange(len(data))
            action = self.rng.randrange(4)
            if action == 0:
                data[where] ^= 1 << self.rng.randrange(8)
            elif action == 1:
                del data[where:where + self.rng.randrange(1, 8)]
            elif action == 2:
                data[where:where] = self.rng.randbytes(self.rng.randrange(1, 6))
            else:
                data[where] = self.rng.choice([0x80, 0xff, 0xc0, 0xed])  # continuation, invalid UTF-8
            if not data:
                data = bytearray(b"\x0a")
        return bytes(data)

    def message(self, descriptor: Descriptor, depth: int) -> Message:
        message = message_factory.GetMessageClass(descriptor)()
        for field in descriptor.fields:
            if self.rng.random() < 0.35 or (field.type == FieldDescriptor.TYPE_MESSAGE and depth > 3):
                continue
            if field.is_repeated:
                count = self.rng.choice([1, 2, 3, 1001]) if field.name == "record_ids" else self.rng.randrange(1, 4)
                for _ in range(count):
                    self._append(message, field, depth)
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                getattr(message, field.name).CopyFrom(self.message(field.message_type, depth + 1))
            else:
                setattr(message, field.name, self.scalar(field))
        return message

    def _append(self, message: Message, field: FieldDescriptor, depth: int) -> None:
        container = getattr(message, field.name)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            container.add().CopyFrom(self.message(field.message_type, depth + 1))
        else:
            container.append(self.scalar(field))

    def scalar(self, field: FieldDescriptor) -> Any:
        rng, kind = self.rng, field.type
        if field.message_type is None and field.containing_type.full_name == "google.protobuf.Timestamp":
            if field.name == "nanos":
                return rng.choice([0, -1, 10**9, 999_999_999, rng.randrange(10**9)])
            return rng.choice([0, 1, -1, 2**62, -(2**62), 253_402_300_799, -62_135_596_800, 9_214_646_400,
                               int(time.time()) + rng.randrange(-10**8, 10**8)])
        if kind == FieldDescriptor.TYPE_STRING:
            if field.name == "fhir_json":
                return rng.choice([self.m.consent_json, self.m.consent_json[: rng.randrange(200)],
                                   "[" * 100_000, json.dumps({"resourceType": "Consent", "x" * 50: 1})])
            return rng.choice(self.m.strings)
        if kind == FieldDescriptor.TYPE_BYTES:
            if field.name == "fhir_json":
                return rng.choice([*self.m.bodies, b"{" * 100000, b'{"a":' * 500, rng.randbytes(100)])
            return rng.choice([rng.randbytes(32), b"", rng.randbytes(rng.randrange(1, 80))])
        if kind == FieldDescriptor.TYPE_BOOL:
            return rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            return rng.randrange(-3, 10)
        if kind == FieldDescriptor.TYPE_UINT64:
            return rng.choice([0, 1, 2, 5, 50, 2**53, 2**63 - 1, 2**63, 2**64 - 1, rng.randrange(2**64)])
        if kind in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32):
            return rng.choice([0, 1, -1, 10, 1000, 1001, 2**31 - 1, -(2**31)])
        if kind == FieldDescriptor.TYPE_INT64:
            return rng.choice([0, 1, -1, 2**62, -(2**62), 2**63 - 1, -(2**63)])
        raise AssertionError(f"no fuzz values for {field.full_name}")


def _call(channel: grpc.Channel, method: str, streaming: bool, raw: bytes,
          metadata: list[tuple[str, str]]) -> grpc.StatusCode:
    try:
        if streaming:
            timeout = WATCH_S if "/Watch" in method else 30
            for _ in channel.unary_stream(method)(raw, metadata=metadata, timeout=timeout):
                pass
        else:
            channel.unary_unary(method)(raw, metadata=metadata, timeout=30)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_no_request_bytes_end_internal_and_the_ledger_still_verifies(fuzzed):
    rng = random.Random(SEED)
    material = Material(fuzzed)
    requests = Requests(rng, material)
    codes: Counter[grpc.StatusCode] = Counter()
    bad: list[str] = []
    deadline = time.monotonic() + SECONDS
    with grpc.insecure_channel(fuzzed.target) as channel:
        while time.monotonic() < deadline:
            method, descriptor = rng.choice(METHODS)
            raw = requests.wire(descriptor.input_type)
            caller: Caller | None = rng.choice([*material.callers, None])
            metadata = [("authorization", "Bearer " + caller.token(method, raw))] if caller else []
            code = _call(channel, method, descriptor.server_streaming, raw, metadata)
            codes[code] += 1
            if code in NEVER:
                bad.append(f"{method} as {caller.principal if caller else 'nobody'}: {code.name} for {raw[:120]!r}")
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    summary = f"seed {SEED} (CONSENTRY_FUZZ_SEED={SEED} replays it): {sum(codes.values())} calls, " + \
        ", ".join(f"{code.name} {n}" for code, n in codes.most_common())
    assert bad == [], summary + "\n" + "\n".join(bad[:20])
    assert codes[grpc.StatusCode.INVALID_ARGUMENT] > 0 and codes[grpc.StatusCode.OK] > 0, summary
    assert health.status == health_pb2.HealthCheckResponse.SERVING, summary
    _assert_ledger_verifies(fuzzed, summary)


def _assert_ledger_verifies(h: Harness, summary: str) -> None:
    h.flush_refusals()
    note = h.operator.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint
    entries = [e for seq, e in h.entries_by_seq(own_reads=True) if seq < note.tree_size]
    checkpoint = verify_log(entries, note.note, NoteVerifier.from_key(h.app.ledger_verifier_key))
    assert checkpoint.size == note.tree_size, summary

