"""The running server the CLI tests talk to, and the people of the story, set up by the CLI."""

from __future__ import annotations

import base64
import secrets

import pytest
from cli_helpers import notice_file, ok, published, run, serve


@pytest.fixture
def served(tmp_path):
    """`consentry serve` on a fresh data directory: (target, data directory, process).

    Its output goes to ``serve.log`` beside the data directory."""
    data = tmp_path / "data"
    with open(tmp_path / "serve.log", "w") as log:
        proc, target = serve(data, log)
        try:
            yield target, data, proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def story(harness, tmp_path_factory):
    """Everyone's key files, made by the CLI, and everyone registered by the operator's CLI."""
    d = tmp_path_factory.mktemp("people")
    run_id = secrets.token_hex(3)
    ids = {"hospital": f"cli-hospital-{run_id}", "doctor": f"cli-doctor-{run_id}", "patient": f"cli-patient-{run_id}"}
    server = ["--target", harness.target]
    operator = [*server, "--data-dir", str(harness.settings.data_dir)]
    for org, kind, practitioner in (("hospital", "hospital", "dr-okafor"), ("doctor", "family-doctor", "dr-chen")):
        keys = ok(run("org", "key", "new", "--out", str(d / f"{org}.key"),
                      "--encryption-out", str(d / f"{org}.x25519")))
        identity, encryption = (line.split()[-1] for line in keys)
        registered = ok(run("operator", "register-institution", "--id", ids[org], "--name", org, "--kind", kind,
                            "--identity-public-key", identity, "--encryption-public-key", encryption, *operator))
        assert registered[0].startswith(f"registered org:{ids[org]} ({kind}) with keys ed25519:")
        assert ok(run("operator", "register-practitioner", "--institution", ids[org], "--practitioner", practitioner,
                      "--role", "physician", *operator)) == [f"registered {practitioner} at {ids[org]}: physician"]
    public = ok(run("patient", "key", "new", "--out", str(d / "patient.key")))[0]
    assert ok(run("operator", "enrol-patient", "--id", ids["patient"], "--identity-public-key", public,
                  *operator))[0].startswith(f"enrolled patient:{ids['patient']} with key ed25519:")
    # The family doctor publishes its own privacy notice; the operator publishes the hospital's for it.
    categories = ["discharge-summary", "medication", "lab"]
    doctor_notice = published(run(
        "org", "notice", "publish", "--file",
        str(notice_file(d / "doctor-notice.json", "doctor", ["TREAT"], categories)),
        "--key", str(d / "doctor.key"), "--as", f"org:{ids['doctor']}", "--role", "physician",
        "--practitioner", "dr-chen", *server))[0]
    hospital_notice = published(run(
        "org", "notice", "publish", "--file",
        str(notice_file(d / "hospital-notice.json", "hospital", ["TREAT"], categories)),
        "--as", "operator", "--for", ids["hospital"], *operator))[0]
    return {
        "dir": d, "ids": ids, "notices": {"doctor": doctor_notice, "hospital": hospital_notice},
        "server": server, "operator": operator,
        "hospital": ["--key", str(d / "hospital.key"), "--as", f"org:{ids['hospital']}", "--role", "physician",
                     "--practitioner", "dr-okafor", *server],
        "doctor": ["--key", str(d / "doctor.key"), "--as", f"org:{ids['doctor']}", "--role", "physician",
                   "--practitioner", "dr-chen", *server],
        "patient": ["--key", str(d / "patient.key"), "--as", f"patient:{ids['patient']}", *server],
        "fetch": ["--patient", ids["patient"], "--purpose", "TREAT", "--encryption-key", str(d / "doctor.x25519"),
                  "--service-key", base64.b64encode(bytes(harness.service_key)).decode()],
    }
