"""`consentry keys`: rotate the KEK next to a running `consentry serve` (another process), resume an
interrupted rotation, and retire old KEK files only when nothing uses them."""

from __future__ import annotations

import sqlite3
import stat

from cli_helpers import run
from harness import notice_texts
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from consentry.services.cli.demo import discharge_records
from consentry.services.crypto import keyfiles
from consentry.services.crypto.kek_rotation import promote_new_kek, retired_kek_files
from consentry.services.crypto.key_provider import FileKeys
from consentry.services.identity.tokens import Caller, identity_key_id
from consentry.services.sdk.client import Client
from consentry.v1 import consent_pb2, exchange_pb2, registry_pb2


def _setup(target, data):
    operator = Client(target, Caller("operator", keyfiles.load_signing_key(data / "operator.key")))
    keys = {}
    for org, kind in (("hosp-kek", registry_pb2.INSTITUTION_KIND_HOSPITAL),
                      ("doc-kek", registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR)):
        identity, enc = SigningKey.generate(), PrivateKey.generate()
        operator.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
            institution_id=org, display_name=org, kind=kind, identity_public_key=bytes(identity.verify_key),
            encryption_public_key=bytes(enc.public_key)))
        operator.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
            institution_id=org, practitioner_id="dr-x", roles=["physician"]))
        keys[org] = (Client(target, Caller("org:" + org, identity, role="physician", practitioner="dr-x")), enc)
    patient_key = SigningKey.generate()
    operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
        patient_id="P-kek-1", identity_public_key=bytes(patient_key.verify_key)))
    patient = Client(target, Caller("patient:P-kek-1", patient_key))
    hospital, _ = keys["hosp-kek"]
    for title, body in discharge_records("P-kek-1").items():
        hospital.exchange.PutRecord(exchange_pb2.PutRecordRequest(
            patient_id="P-kek-1", fhir_json=body, category="mental-health" if title == "psychiatric note" else ""))
    notice = operator.registry.PublishPrivacyNotice(registry_pb2.PublishPrivacyNoticeRequest(
        institution_id="doc-kek", purposes=["TREAT"], categories=["discharge-summary", "medication", "lab"],
        texts=notice_texts("doc-kek"))).ref
    patient.consent.GrantConsent(consent_pb2.GrantConsentRequest(
        patient_id="P-kek-1", grantee="doc-kek", notice=notice, terms=consent_pb2.ConsentTerms(
            categories=["discharge-summary", "medication", "lab"], purposes=["TREAT"])))
    return keys["doc-kek"], [operator, patient, hospital]


def _bodies(data):
    with sqlite3.connect(data / "consentry.db") as conn:
        return conn.execute("SELECT record_id, ciphertext FROM records WHERE ciphertext IS NOT NULL").fetchall()


def _shared(doctor, data):
    client, enc = doctor
    service_key = keyfiles.load_signing_key(data / "service-signing.key").verify_key
    return {r.record_id: r.body for r in client.fetch("P-kek-1", "TREAT", recipient_key=enc, service_key=service_key)
            if r.shared}


def test_rotate_resume_and_retire_next_to_a_running_server(served):
    target, data, _log = served
    doctor, others = _setup(target, data)
    expected = _shared(doctor, data)
    assert len(expected) == 3
    dd = ["--data-dir", str(data)]

    status = run("keys", "status", *dd)
    assert status.returncode == 0 and "current  local-" in status.stdout and "4 record(s)" in status.stdout
    assert "no retired KEK files" in run("keys", "retire-kek", *dd).stdout

    rotated = run("keys", "rotate", "kek", "--batch-size", "2", *dd)
    assert rotated.returncode == 0, rotated.stderr
    assert "rewrapped 4 record key(s)" in rotated.stdout
    [old_id] = retired_kek_files(FileKeys(data))
    assert stat.S_IMODE((data / f"kek-{old_id}.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "kek.key").stat().st_mode) == 0o600
    # The server (another process) never restarted and still opens every record.
    assert _shared(doctor, data) == expected

    # The old KEK stays for the grace period after a rotation (a replica may still hold it).
    early = run("keys", "retire-kek", *dd)
    assert early.returncode == 1 and "grace" in early.stderr and (data / f"kek-{old_id}.key").exists()
    retired = run("keys", "retire-kek", "--grace", "0", *dd)
    assert retired.returncode == 0 and old_id in retired.stdout
    assert not (data / f"kek-{old_id}.key").exists()
    assert _shared(doctor, data) == expected

    # A rotation that died right after promoting the new KEK: retiring is refused...
    promotion = promote_new_kek(FileKeys(data))
    refused = run("keys", "retire-kek", *dd)
    assert refused.returncode == 1 and "refused" in refused.stderr and promotion.old_kek in refused.stderr
    assert (data / f"kek-{promotion.old_kek}.key").exists()
    assert _shared(doctor, data) == expected  # mixed state: the server reads both
    # ...and running rotate-kek again finishes that rotation instead of starting another.
    resumed = run("keys", "rotate-kek", *dd)
    assert resumed.returncode == 0, resumed.stderr
    assert "finishing an unfinished rotation" in resumed.stdout and "rewrapped 4" in resumed.stdout
    assert set(retired_kek_files(FileKeys(data))) == {promotion.old_kek}
    assert "4 record(s)" in run("keys", "status", *dd).stdout.splitlines()[0]
    assert run("keys", "retire-kek", "--kek-id", promotion.old_kek, "--grace", "0", *dd).returncode == 0
    assert _shared(doctor, data) == expected

    # After a compromise: every body sealed again under a fresh data key, next to the running server.
    before = {r[0]: bytes(r[1]) for r in _bodies(data)}
    compromised = run("keys", "rotate", "kek-compromise", "--batch-size", "3", *dd)
    assert compromised.returncode == 0, compromised.stderr
    assert "the fence moved" in compromised.stdout and "re-sealed 4 record key(s)" in compromised.stdout
    assert all(bytes(body) != before[rid] for rid, body in _bodies(data))
    assert _shared(doctor, data) == expected
    for c in [doctor[0], *others]:
        c.close()


def test_rotate_names_the_keys_it_knows(tmp_path):
    result = run("keys", "rotate", "nonsense", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2 and "'nonsense' is not a service key; one of: kek" in result.stderr
    pseudonym = run("keys", "rotate", "pseudonym", "--data-dir", str(tmp_path / "data"))
    assert pseudonym.returncode == 1 and "the pseudonym key is not rotated" in pseudonym.stderr
    assert not (tmp_path / "data").exists()


def test_rotate_operator_next_to_a_running_server_and_the_operator_commands_follow(served):
    target, data, _proc = served
    before = keyfiles.load_signing_key(data / "operator.key").verify_key
    rotated = run("keys", "rotate", "operator", "--data-dir", str(data))
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith("new operator key ed25519:") and "retired" in rotated.stdout
    assert keyfiles.load_signing_key(data / "operator.key").verify_key != before
    assert sorted(p.name for p in data.glob("operator*")) == ["operator.key"]
    demo = run("demo", "--target", target, "--data-dir", str(data))  # acts as the operator throughout
    assert demo.returncode == 0, demo.stdout + demo.stderr
    old_id = identity_key_id(bytes(before))
    revoked = run("keys", "revoke", "operator", old_id, "--data-dir", str(data))
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout == f"operator key {old_id} revoked: it authenticates nothing from now on\n"
    again = run("keys", "revoke", "operator", old_id, "--data-dir", str(data))
    assert again.returncode == 1 and again.stderr == "consentry keys: the key is already revoked\n"


def test_rotate_root_kek_is_for_a_token_and_says_so_under_key_files(served):
    _target, data, _proc = served
    result = run("keys", "rotate", "root-kek", "--data-dir", str(data))
    assert result.returncode == 1
    assert result.stderr.strip() == ("consentry keys: the files provider has no root KEK (its secrets are plain key "
                                     "files); it exists with CONSENTRY_PKCS11_MODULE (docs/keys.md)")
