"""`consentry rights`: a patient exports their records and files a request, the holder lists it,
the operator establishes a guardian who then exports; refusals are one line."""

from __future__ import annotations

import base64
import json

from cli_helpers import run
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from consentry.services import config as cfg
from consentry.services.cli.demo import discharge_records
from consentry.services.crypto import keyfiles
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import exchange_pb2, registry_pb2


def enrol(operator: Client, tmp_path, patient_id: str) -> str:
    """Enrols the patient; returns their key file."""
    identity = SigningKey.generate()
    operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
        patient_id=patient_id, identity_public_key=bytes(identity.verify_key)))
    key_file = tmp_path / f"{patient_id}.key"
    keyfiles.write_key_file(key_file, "ed25519", bytes(identity))
    return str(key_file)


def test_a_patient_exports_and_files_and_a_guardian_acts_for_them(served, tmp_path):
    target, data, _ = served
    operator = Client(target, Caller("operator", keyfiles.load_signing_key(data / "operator.key")))
    hospital_key = SigningKey.generate()
    operator.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
        institution_id="cli-hospital", display_name="Hospital", kind=registry_pb2.INSTITUTION_KIND_HOSPITAL,
        identity_public_key=bytes(hospital_key.verify_key),
        encryption_public_key=bytes(PrivateKey.generate().public_key)))
    operator.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
        institution_id="cli-hospital", practitioner_id="dr-a", roles=["physician"]))
    minor, mother = enrol(operator, tmp_path, "P-minor"), enrol(operator, tmp_path, "P-mother")
    with Client(target, Caller("org:cli-hospital", hospital_key, role="physician", practitioner="dr-a")) as hospital:
        for body in discharge_records("P-minor").values():
            hospital.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id="P-minor", fhir_json=body))
    signing = keyfiles.load_signing_key(data / cfg.SHARE_SIGNING_KEY)
    service_key = base64.b64encode(bytes(signing.verify_key)).decode()
    as_minor = ["--target", target, "--identity", minor, "--principal", "patient:P-minor"]

    exported = run("rights", "export", "--patient", "P-minor", "--out", str(tmp_path / "out"),
                   "--service-key", service_key, *as_minor)
    assert exported.returncode == 0, exported.stderr
    bundle = json.loads((tmp_path / "out" / "bundle-1.json").read_text())
    assert bundle["type"] == "collection" and len(bundle["entry"]) == 4
    assert exported.stdout.startswith("exported 4 records in 1 Bundle(s)")

    filed = run("rights", "file", "--patient", "P-minor", "--type", "erasure", "--holder", "cli-hospital", *as_minor)
    assert filed.returncode == 0 and "\terasure\treceived\tdue " in filed.stdout and "PIPL 50" in filed.stdout
    listed = run("rights", "requests", "--target", target, "--identity", str(tmp_path / "hospital.key"),
                 "--principal", "org:cli-hospital", "--acting-practitioner", "dr-a", "--acting-role", "physician")
    assert listed.returncode == 1 and listed.stderr.startswith("consentry rights: ")  # no such key file
    by_operator = run("rights", "requests", "--target", target, "--data-dir", str(data))
    assert sorted(line.split("\t")[1:3] for line in by_operator.stdout.splitlines()) == [
        ["access", "completed"], ["erasure", "received"]]

    refused = run("rights", "export", "--patient", "P-minor", "--out", str(tmp_path / "no"),
                  "--service-key", service_key, "--target", target, "--identity", mother,
                  "--principal", "patient:P-mother")
    assert refused.returncode == 1 and refused.stderr.strip() == (
        "consentry rights: PERMISSION_DENIED: you may not act for this patient")
    evidence = tmp_path / "order.pdf"
    evidence.write_bytes(b"a court order naming the mother guardian")
    made = run("rights", "representative", "--patient", "P-minor", "--representative", "P-mother",
               "--basis", "guardian", "--evidence-type", "court-order", "--evidence", str(evidence),
               "--target", target, "--data-dir", str(data))
    assert made.returncode == 0 and made.stdout.startswith("P-mother acts for P-minor as guardian"), made.stderr
    again = run("rights", "export", "--patient", "P-minor", "--out", str(tmp_path / "mother"),
                "--service-key", service_key, "--target", target, "--identity", mother,
                "--principal", "patient:P-mother")
    assert again.returncode == 0 and len(json.loads((tmp_path / "mother" / "bundle-1.json").read_text())["entry"]) == 4
    operator.close()
