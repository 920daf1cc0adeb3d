"""The whole story by the `consentry` command alone, on both backends: the operator registers a
hospital and a family doctor and enrols a patient; the hospital deposits; the doctor asks for
access; the patient approves; the doctor fetches to files; the patient revokes and the next fetch
is refused in one line. `consentry token` signs a raw gRPC call; a bad key file is one line."""

from __future__ import annotations

import base64
import json

import grpc
import pytest
from cli_helpers import ok, one_line, run

from consentry.services.cli.demo import discharge_records
from consentry.v1 import consent_pb2, exchange_pb2


def test_the_whole_story_by_cli(story):
    d, ids = story["dir"], story["ids"]
    summary = discharge_records(ids["patient"])["discharge summary"]
    (d / "summary.json").write_bytes(summary)
    deposited = ok(run("org", "deposit", "--patient", ids["patient"], "--file", str(d / "summary.json"),
                       *story["hospital"]))
    record_id, category, _labels, ledger = deposited[0].split("\t")
    assert category == "discharge-summary" and ledger.startswith("ledger #")

    asked = ok(run("org", "request-access", "--patient", ids["patient"], "--category", "discharge-summary",
                   "--purpose", "TREAT", "--days", "30", "--reason", "follow-up after discharge",
                   "--notice", story["notices"]["doctor"], *story["doctor"]))
    assert asked[0].startswith(f"privacy notice {story['notices']['doctor']} v1 of {ids['doctor']} (en)")
    request_id, status, requester = asked[-1].split("\t")[:3]
    assert (status, requester) == ("pending", ids["doctor"])
    assert [line.split("\t")[:2] for line in ok(run("org", "requests", *story["doctor"]))] == [[request_id, "pending"]]
    pending = ok(run("patient", "requests", "--status", "pending", *story["patient"]))
    assert [line.split("\t")[0] for line in pending] == [request_id]

    approved = ok(run("patient", "approve", request_id, *story["patient"]))
    assert approved[:-1] == asked[:-1]  # the patient is shown the notice the doctor asked under
    consent_id, version, status, kind, grantee = approved[-1].split("\t")[:5]
    assert (version, status, kind, grantee) == ("v1", "active", "treatment", ids["doctor"])
    assert approved[-1].endswith(f"\tnotice {story['notices']['doctor']} v1")  # the request's notice
    assert [line.split("\t")[0] for line in ok(run("patient", "consents", *story["patient"]))] == [consent_id]

    out = d / "fetched"
    fetched = ok(run("org", "fetch", "--out", str(out), *story["fetch"], *story["doctor"]))
    assert fetched == [f"shared\t{record_id}\tdischarge-summary\t{out / (record_id + '.json')}"]
    assert json.loads((out / f"{record_id}.json").read_bytes()) == json.loads(summary)
    assert (out / f"{record_id}.json").stat().st_mode & 0o077 == 0
    history = ok(run("patient", "history", *story["patient"]))
    assert any(f"\tshared\t{ids['doctor']}\tdr-chen\tTREAT\tdischarge-summary\t{record_id}" in line
               for line in history), history

    revoked = ok(run("patient", "revoke", consent_id, "--reason", "changed doctor", *story["patient"]))
    assert revoked[0].split("\t")[:3] == [consent_id, "v1", "revoked"]
    refused = run("org", "fetch", "--out", str(d / "again"), *story["fetch"], *story["doctor"])
    assert one_line(refused, "consentry org: PERMISSION_DENIED: ")
    assert not (d / "again").exists()


def test_a_token_from_the_cli_signs_a_raw_grpc_call(story):
    ids = story["ids"]
    body = json.dumps({"patientId": ids["patient"], "includeInactive": True})
    printed = ok(run("token", "ConsentService/ListConsents", "--request-json", body, *story["patient"]))
    assert printed[0].startswith("authorization: Bearer ") and printed[3].startswith("grpcurl -plaintext -H ")
    assert "consentry.v1.ConsentService/ListConsents" in printed[3]
    token = printed[0].removeprefix("authorization: Bearer ")
    raw = base64.b64decode(printed[1].removeprefix("request-base64: "))
    assert printed[2] == "request-hex: " + raw.hex()

    with grpc.insecure_channel(story["server"][1]) as channel:
        call = channel.unary_unary("/consentry.v1.ConsentService/ListConsents",
                                   response_deserializer=consent_pb2.ListConsentsResponse.FromString)
        reply = call(raw, metadata=[("authorization", "Bearer " + token)], timeout=10)
        assert [c.patient_id for c in reply.consents] == [ids["patient"]] * len(reply.consents)
        # The token is bound to those bytes: the same token, or a fresh one, does not carry others.
        other = consent_pb2.ListConsentsRequest(patient_id=ids["patient"]).SerializeToString()
        fresh = ok(run("token", "/consentry.v1.ConsentService/ListConsents", "--request-json", body,
                       "--print", "token", *story["patient"]))[0]
        with pytest.raises(grpc.RpcError) as refused:
            call(other, metadata=[("authorization", "Bearer " + fresh)], timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

        # An institution's token names the staff member acting, as --role and --practitioner say.
        (story["dir"] / "lab.json").write_bytes(discharge_records(ids["patient"])["lab results"])
        record_id = ok(run("org", "deposit", "--patient", ids["patient"], "--file", str(story["dir"] / "lab.json"),
                           *story["hospital"]))[0].split("\t")[0]
        printed = ok(run("token", "/consentry.v1.ExchangeService/ListRecords", "--request-json",
                         json.dumps({"patientId": ids["patient"]}), *story["hospital"]))
        listed = channel.unary_unary("/consentry.v1.ExchangeService/ListRecords",
                                     response_deserializer=exchange_pb2.ListRecordsResponse.FromString)(
            base64.b64decode(printed[1].removeprefix("request-base64: ")),
            metadata=[("authorization", printed[0].removeprefix("authorization: "))], timeout=10)
        assert record_id in {r.record_id for r in listed.records}
        assert {r.holder for r in listed.records} == {ids["hospital"]}


def test_bad_key_files_and_flags_are_one_line(story, tmp_path):
    loose = tmp_path / "loose.key"
    loose.write_bytes((story["dir"] / "patient.key").read_bytes())
    loose.chmod(0o644)
    as_patient = ["--as", f"patient:{story['ids']['patient']}", *story["server"]]
    assert "chmod 600" in one_line(run("patient", "history", "--key", str(loose), *as_patient), "consentry patient: ")
    assert "does not exist" in one_line(run("patient", "history", "--key", str(tmp_path / "none.key"), *as_patient),
                                        "consentry patient: ")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key\n")
    garbage.chmod(0o600)
    one_line(run("org", "requests", *story["doctor"][2:], "--key", str(garbage)), "consentry org: ")
    assert "--category" in one_line(run("patient", "grant", "--to", "x", "--notice", "n", *story["patient"]),
                                    "consentry patient grant: ", code=2)
    assert "no such method" in one_line(run("token", "NoSuchMethod"), "consentry token: ", code=2)
    # A refusal by the server names its status, on one line as well.
    assert one_line(run("patient", "revoke", "00000000-0000-4000-8000-000000000000", *story["patient"]),
                    "consentry patient: NOT_FOUND: ")
