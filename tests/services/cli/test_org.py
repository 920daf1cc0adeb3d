"""`consentry org practitioners`: the operator registers an institution's first practitioner, the
institution then manages its own with its key; every refusal is one line, without a traceback."""

from __future__ import annotations

import pytest
from cli_helpers import run
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from consentry.services.crypto import keyfiles
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import registry_pb2


def register_institution(target, data, tmp_path, institution_id, kind):
    """Registers the institution as the operator; returns its identity key file."""
    identity = SigningKey.generate()
    key_file = tmp_path / f"{institution_id}.key"
    keyfiles.write_key_file(key_file, "ed25519", bytes(identity))
    with Client(target, Caller("operator", keyfiles.load_signing_key(data / "operator.key"))) as operator:
        operator.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
            institution_id=institution_id, display_name=institution_id, kind=kind,
            identity_public_key=bytes(identity.verify_key),
            encryption_public_key=bytes(PrivateKey.generate().public_key)))
    return key_file


def one_line_refusal(result, *fragments):
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr  # one line, no traceback
    assert result.stderr.startswith("consentry org: ")
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture
def clinic(served, tmp_path):
    target, data, _ = served
    key_file = register_institution(target, data, tmp_path, "cli-clinic", registry_pb2.INSTITUTION_KIND_CLINIC)
    return target, data, key_file


def test_the_operator_and_then_the_institution_manage_its_practitioners(clinic):
    target, data, key_file = clinic
    as_operator = ["--institution", "cli-clinic", "--target", target, "--data-dir", str(data)]
    as_clinic = ["--institution", "cli-clinic", "--target", target, "--identity", str(key_file),
                 "--principal", "org:cli-clinic", "--acting-practitioner", "clerk-1", "--acting-role", "admin-clerk"]

    added = run("org", "practitioners", "add", "--practitioner", "clerk-1", "--role", "admin-clerk", *as_operator)
    assert (added.returncode, added.stdout) == (0, "registered clerk-1 at cli-clinic: admin-clerk\n"), added.stderr
    added = run("org", "practitioners", "add", "--practitioner", "dr-a", "--role", "physician",
                "--role", "psychiatrist", *as_clinic)
    assert (added.returncode, added.stdout) == (0, "registered dr-a at cli-clinic: physician, psychiatrist\n"), \
        added.stderr
    listed = run("org", "practitioners", "list", *as_clinic)
    assert (listed.returncode, listed.stdout) == (0, "clerk-1\tadmin-clerk\ndr-a\tphysician, psychiatrist\n")

    removed = run("org", "practitioners", "remove", "--practitioner", "dr-a", *as_clinic)
    assert (removed.returncode, removed.stdout) == (0, "removed dr-a from cli-clinic\n"), removed.stderr
    assert run("org", "practitioners", "list", *as_operator).stdout == "clerk-1\tadmin-clerk\n"


def test_refusals_are_one_line(clinic, tmp_path):
    target, data, key_file = clinic
    operator = ["--target", target, "--data-dir", str(data)]
    one_line_refusal(run("org", "practitioners", "add", "--institution", "cli-clinic", "--practitioner", "c-1",
                         "--role", "claims-officer", *operator), "INVALID_ARGUMENT", "roles[0]")
    one_line_refusal(run("org", "practitioners", "list", "--institution", "no-such-org", *operator), "NOT_FOUND")

    other = register_institution(target, data, tmp_path, "cli-lab", registry_pb2.INSTITUTION_KIND_LABORATORY)
    run("org", "practitioners", "add", "--institution", "cli-lab", "--practitioner", "lab-1", "--role", "admin-clerk",
        *operator)
    as_lab = ["--target", target, "--identity", str(other), "--principal", "org:cli-lab",
              "--acting-practitioner", "lab-1", "--acting-role", "admin-clerk"]
    one_line_refusal(run("org", "practitioners", "add", "--institution", "cli-clinic", "--practitioner", "mole",
                         "--role", "physician", *as_lab), "PERMISSION_DENIED")
    one_line_refusal(run("org", "practitioners", "list", "--institution", "cli-lab", *as_lab[:-2],
                         "--acting-role", "physician"), "UNAUTHENTICATED", "cannot have role physician")
    one_line_refusal(run("org", "practitioners", "list", "--institution", "cli-lab", "--target", target,
                         "--identity", str(other), "--principal", "org:cli-lab"), "--acting-practitioner")
    one_line_refusal(run("org", "practitioners", "list", "--institution", "cli-lab", "--target", target,
                         "--identity", str(tmp_path / "missing.key"), "--principal", "org:cli-lab",
                         "--acting-practitioner", "lab-1", "--acting-role", "admin-clerk"), "does not exist")
