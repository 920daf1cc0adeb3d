"""The `consentry` command as a user runs it: init, serve, demo (both modes), audit key."""

from __future__ import annotations

import re
import signal
import stat
import subprocess
import time
import urllib.request

from cli_helpers import CONSENTRY, run

KEY_FILES = ["operator.key", "service-signing.key", "ledger-signing.key", "kek.key", "ledger-pseudonym.key"]


def test_init_creates_private_keys_and_prints_the_ledger_key(tmp_path):
    data = tmp_path / "data"
    first = run("init", "--data-dir", str(data))
    assert first.returncode == 0, first.stderr
    for name in KEY_FILES:
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    assert "ledger verifier key: consentry.local/ledger+" in first.stdout
    before = {n: (data / n).read_bytes() for n in KEY_FILES}
    again = run("init", "--data-dir", str(data))
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert before == {n: (data / n).read_bytes() for n in KEY_FILES}  # never overwritten
    key = run("audit", "key", "--data-dir", str(data))
    assert key.stdout.strip() == first.stdout.strip().split("ledger verifier key: ")[1]


def test_consentry_home_is_the_default_data_dir(tmp_path):
    result = run("init", env={"CONSENTRY_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "home" / "operator.key").exists()


def test_demo_on_embedded_defaults_tells_the_whole_story_then_keeps_serving_the_portal():
    proc = subprocess.Popen([*CONSENTRY, "demo", "--keep-serving"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (lines and lines[-1].startswith("Stop with Ctrl-C")):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        out = "\n".join(lines)
        for step in ("psychiatric note was withheld without being named",
                     "refused after revocation (PERMISSION_DENIED)", "the patient sees the psychiatric note refused",
                     "checkpoint signature verified", "The story behaved as it must."):
            assert step in out, out
        assert re.search(r"web front door: http://127\.0\.0\.1:\d+/ \(patient portal: http://127\.0\.0\.1:\d+/portal/, "
                         r"auditor page: http://127\.0\.0\.1:\d+/auditor/\)", out)
        # After the story the server still serves the portal, until stopped.
        portal = re.search(r"Patient portal: (http://127\.0\.0\.1:\d+/portal/)", out)
        assert portal, out
        assert re.search(r"Enrol there with the one-time code [0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4} "
                         r"\(for the new patient you-[0-9a-f]{4}\)", out), out
        with urllib.request.urlopen(portal.group(1), timeout=10) as page:  # noqa: S310 (http on loopback)
            assert page.status == 200 and b'src="portal.js"' in page.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_refuses_plain_http_off_loopback_in_one_line(tmp_path):
    result = run("serve", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:8080", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "secure context" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_demo_against_a_running_server_twice(served):
    target, data, _ = served
    for _ in range(2):  # the story can be told again against the same server
        result = run("demo", "--target", target, "--data-dir", str(data))
        assert result.returncode == 0, result.stdout + result.stderr


def test_demo_with_a_foreign_operator_key_fails(served, tmp_path):
    target, _, _ = served
    other = tmp_path / "other"
    run("init", "--data-dir", str(other))
    result = run("demo", "--target", target, "--data-dir", str(other))
    assert result.returncode != 0 and "UNAUTHENTICATED" in result.stdout


def test_the_server_log_holds_no_patient_identifier_or_content(served):
    target, data, proc = served
    result = run("demo", "--target", target, "--data-dir", str(data))
    assert result.returncode == 0
    proc.terminate()  # the whole log is written once the server has exited
    proc.wait(timeout=30)
    text = (data.parent / "serve.log").read_text()
    assert "serving" in text  # sanity: the search reads the real log
    assert "patient-" not in text and "amoxicillin" not in text and "pneumonia" not in text


def test_audit_export_and_verify_catch_tampering_and_rollback(served, tmp_path):
    target, data, _ = served
    assert run("demo", "--target", target, "--data-dir", str(data)).returncode == 0
    key = run("audit", "key", "--data-dir", str(data)).stdout.strip()
    state = tmp_path / "trusted.note"
    old = tmp_path / "old"
    assert run("audit", "export", "--target", target, "--data-dir", str(data), "--out", str(old)).returncode == 0
    ok = run("audit", "verify", str(old), "--key", key, "--state", str(state))
    assert ok.returncode == 0, ok.stderr
    # The live server verifies too, and is consistent with what was trusted before.
    assert run("demo", "--target", target, "--data-dir", str(data)).returncode == 0
    live = run("audit", "verify", "--target", target, "--data-dir", str(data), "--key", key, "--state", str(state))
    assert live.returncode == 0, live.stderr
    # Going back to the older export is a rollback.
    rolled = run("audit", "verify", str(old), "--key", key, "--state", str(state))
    assert rolled.returncode == 1 and "shrank" in rolled.stderr
    # One changed byte in one entry is caught, and the entry is named.
    lines = (old / "entries.jsonl").read_bytes().splitlines(keepends=True)
    lines[7] = lines[7].replace(b'"kind":"', b'"kind":"x', 1)
    (old / "entries.jsonl").write_bytes(b"".join(lines))
    tampered = run("audit", "verify", str(old), "--key", key, "--state", str(tmp_path / "fresh.note"))
    assert tampered.returncode == 1 and "entry 7 " in tampered.stderr, tampered.stderr
    # A key other than the ledger's is refused.
    other = tmp_path / "other"
    run("init", "--data-dir", str(other))
    wrong = run("audit", "key", "--data-dir", str(other)).stdout.strip()
    assert run("audit", "verify", str(old), "--key", wrong, "--state", str(tmp_path / "w.note")).returncode == 1
