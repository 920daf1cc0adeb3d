"""`consentry audit consent`: an auditor proves, with the patient's public key and the ledger's,
that the patient signed every change of a consent; any other key, or no evidence, fails."""

from __future__ import annotations

import base64

from cli_helpers import run
from harness import notice_texts
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from consentry.services.crypto import keyfiles
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import consent_pb2, registry_pb2


def test_an_auditor_proves_each_change_of_a_consent(served, tmp_path):
    target, data, _ = served
    patient, auditor, clinic = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    auditor_file = tmp_path / "auditor.key"
    keyfiles.write_key_file(auditor_file, "ed25519", bytes(auditor))
    with Client(target, Caller("operator", keyfiles.load_signing_key(data / "operator.key"))) as operator:
        operator.registry.EnrollPatient(registry_pb2.EnrollPatientRequest(
            patient_id="P-cli-1", identity_public_key=bytes(patient.verify_key)))
        operator.registry.EnrollAuditor(registry_pb2.EnrollAuditorRequest(
            auditor_id="ombudsman", identity_public_key=bytes(auditor.verify_key)))
        operator.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
            institution_id="clinic-1", display_name="Clinic", kind=registry_pb2.INSTITUTION_KIND_CLINIC,
            identity_public_key=bytes(clinic.verify_key),
            encryption_public_key=bytes(PrivateKey.generate().public_key)))
        notice = operator.registry.PublishPrivacyNotice(registry_pb2.PublishPrivacyNoticeRequest(
            institution_id="clinic-1", purposes=["TREAT"], categories=["lab"], texts=notice_texts("clinic-1"))).ref
    with Client(target, Caller("patient:P-cli-1", patient)) as me:
        consent = me.consent.GrantConsent(consent_pb2.GrantConsentRequest(
            patient_id="P-cli-1", grantee="clinic-1", notice=notice,
            terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]))).consent
        me.consent.RevokeConsent(consent_pb2.RevokeConsentRequest(consent_id=consent.consent_id))
    ledger_key = run("audit", "key", "--data-dir", str(data)).stdout.strip()
    as_auditor = ("--target", target, "--identity", str(auditor_file), "--principal", "auditor:ombudsman")

    def audit(key: SigningKey, *extra: str, caller: tuple[str, ...] = as_auditor):
        return run("audit", "consent", consent.consent_id, "--key", base64.b64encode(bytes(key.verify_key)).decode(),
                   *caller, *extra)

    proved = audit(patient, "--ledger-key", ledger_key)
    assert proved.returncode == 0, proved.stderr
    lines = proved.stdout.splitlines()
    assert lines[0].startswith("version 1: GrantConsent signed by patient:P-cli-1")
    assert lines[1].startswith("version 1: RevokeConsent signed by patient:P-cli-1")
    assert all(line.endswith("(in the signed ledger)") for line in lines[:2])
    assert lines[2] == f"verified 2 signed changes of consent {consent.consent_id}"

    other = audit(SigningKey.generate())
    assert other.returncode == 1 and "FAILED: the token was signed by another key" in other.stderr, other.stderr
    operator = audit(patient, caller=("--target", target, "--data-dir", str(data)))
    assert operator.returncode == 1 and "FAILED: PERMISSION_DENIED" in operator.stderr, operator.stderr
