"""`pip install consentry` without the server extra: what an auditor or a partner institution has.

Each command runs the real `consentry` CLI in a subprocess where importing any server-only
package fails, as it does where `consentry[server]` was never installed: the audit commands and
the SDK work there, and the server commands say in one line what to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from consentry.services.crypto import keyfiles
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import registry_pb2

# The top-level modules of what only `consentry[server]` installs.
SERVER_ONLY = ("sqlalchemy", "alembic", "psycopg", "regorus", "opa_client", "orjson", "grpc_health",
               "grpc_reflection", "fhir", "fhir_core")
HINT = "pip install 'consentry[server]'"

# Loaded by Python at start-up from PYTHONPATH; the finder runs before every other one.
SITECUSTOMIZE = f"""
import sys


class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {SERVER_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


def _client_only_env(directory: Path) -> dict[str, str]:
    (directory / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")]))}


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})



@pytest.fixture
def client_only(tmp_path) -> dict[str, str]:
    directory = tmp_path / "client-only"
    directory.mkdir()
    return _client_only_env(directory)


def test_the_server_packages_are_refused_and_the_client_ones_are_not(client_only):
    for name in SERVER_ONLY:
        refused = _python(f"import {name}", client_only)
        assert refused.returncode == 1 and f"No module named '{name}'" in refused.stderr, name
    assert _python("import grpc, nacl, jwt, rfc8785, typer, rich", client_only).returncode == 0


def test_the_sdk_imports(client_only):
    result = _python("from consentry.services.sdk.client import Client; import consentry.ledger.verify",
                     client_only)
    assert result.returncode == 0, result.stderr


def test_demo_target_audit_export_and_verify_run_and_catch_tampering(served, tmp_path, client_only):
    target, data, _ = served
    told = run("demo", "--target", target, "--data-dir", str(data), env=client_only)
    assert told.returncode == 0, told.stdout + told.stderr
    key = run("audit", "key", "--data-dir", str(data), env=client_only)
    assert key.returncode == 0 and key.stdout.startswith("consentry.local/ledger+"), key.stderr
    export = tmp_path / "export"
    exported = run("audit", "export", "--target", target, "--data-dir", str(data), "--out", str(export),
                   "--format", "fhir-auditevent", env=client_only)
    assert exported.returncode == 0, exported.stderr
    assert (export / "auditevents.json").read_text().startswith('{\n "resourceType": "Bundle"')
    verified = run("audit", "verify", str(export), "--key", key.stdout.strip(), "--state",
                   str(tmp_path / "trusted.note"), env=client_only)
    assert verified.returncode == 0 and verified.stdout.startswith("verified "), verified.stderr

    lines = (export / "entries.jsonl").read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'"kind":"', b'"kind":"x', 1)
    (export / "entries.jsonl").write_bytes(b"".join(lines))
    tampered = run("audit", "verify", str(export), "--key", key.stdout.strip(), "--state",
                   str(tmp_path / "fresh.note"), env=client_only)
    assert tampered.returncode == 1 and "entry 3 " in tampered.stderr, tampered.stderr


def test_org_practitioners_run_without_the_server_install(served, client_only):
    target, data, _ = served
    with Client(target, Caller("operator", keyfiles.load_signing_key(data / "operator.key"))) as operator:
        operator.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
            institution_id="client-only-clinic", display_name="A clinic", kind=registry_pb2.INSTITUTION_KIND_CLINIC,
            identity_public_key=bytes(SigningKey.generate().verify_key),
            encryption_public_key=bytes(PrivateKey.generate().public_key)))
    common = ["--institution", "client-only-clinic", "--target", target, "--data-dir", str(data)]
    added = run("org", "practitioners", "add", "--practitioner", "dr-a", "--role", "physician", *common,
                env=client_only)
    assert added.returncode == 0, added.stderr
    listed = run("org", "practitioners", "list", *common, env=client_only)
    assert (listed.returncode, listed.stdout) == (0, "dr-a\tphysician\n"), listed.stderr


@pytest.mark.parametrize("command", [["serve"], ["init"], ["demo"], ["keys", "status"], ["keys", "rotate-kek"]])
def test_server_commands_say_in_one_line_what_to_install(command, tmp_path, client_only):
    data = tmp_path / "data"
    result = run(*command, "--data-dir", str(data), env=client_only)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr  # one line, no traceback
    assert result.stderr.startswith(f"consentry {' '.join(command)} needs the server install")
    assert result.stderr.strip().endswith(HINT)
    assert not data.exists()  # stopped before doing anything
