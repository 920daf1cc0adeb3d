"""`consentry witness` beside a real server: its key, the cosigned checkpoints GetCheckpoint then
serves, `audit verify --witness`, and a witness that is down never holding the ledger back."""

from __future__ import annotations

import http.client
import logging
import stat
import urllib.request

import pytest
from backends import BACKENDS, database
from cli_helpers import free_port, run
from harness import Harness
from witness_helpers import cosigned_note, latest_note, witness_process, witness_server

from consentry.ledger import (
    CosignatureVerifier,
    NoteSigner,
    NoteVerifier,
    WitnessState,
    origin_hash,
    require_cosignatures,
    split_note,
    verify_cosignatures,
)
from consentry.services.cli.witness import load_cosigner
from consentry.services.store.witnessing import WitnessEndpoint, Witnessing


def witness_key(tmp_path, name="witness.test/w1"):
    result = run("witness", "key", "--key", str(tmp_path / "witness.key"), "--name", name)
    assert result.returncode == 0, result.stderr
    return tmp_path / "witness.key", result.stdout.strip()


def test_witness_key_creates_a_private_key_once_and_prints_its_vkey(tmp_path):
    key, vkey = witness_key(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("PRIVATE+KEY+witness.test/w1+")
    assert CosignatureVerifier.from_key(vkey) == load_cosigner(key).verifier
    again = run("witness", "key", "--key", str(key))
    assert again.returncode == 0 and again.stdout.strip() == vkey  # printed, never replaced
    other = run("witness", "key", "--key", str(key), "--name", "witness.test/w2")
    assert other.returncode == 1
    assert other.stderr == f"error: {key} is the key of witness.test/w1, not witness.test/w2\n"
    missing = run("witness", "key", "--key", str(tmp_path / "none.key"))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "give --name" in missing.stderr
    key.chmod(0o644)
    exposed = run("witness", "key", "--key", str(key))
    assert exposed.returncode == 1 and "chmod 600" in exposed.stderr and exposed.stderr.count("\n") == 1


def test_witness_serve_refuses_bad_configuration_in_one_line(tmp_path):
    key, _ = witness_key(tmp_path)
    for logs, expected in [(["consentry.local/ledger"], "is not ORIGIN=VKEY"),
                           (["consentry.local/ledger=not+a+key"], "verifier key")]:
        result = run("witness", "serve", "--key", str(key), "--state", str(tmp_path / "s"), "--listen",
                     "127.0.0.1:0", *(a for log in logs for a in ("--log", log)))
        assert result.returncode == 1 and result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr


@pytest.fixture(params=BACKENDS)
def witnessed(request, tmp_path):
    """A witness key, a free port for the witness, and a server configured to submit to it."""
    key, vkey = witness_key(tmp_path)
    port = free_port()
    with database(request.param, tmp_path) as url:
        h = Harness.start(tmp_path / "data", url, witnesses=((f"http://127.0.0.1:{port}", vkey),),
                          checkpoint_every_seconds=0.2)
        try:
            yield h, key, CosignatureVerifier.from_key(vkey), port
        finally:
            h.stop()


def test_the_witness_cosigns_the_servers_checkpoints_and_audit_verify_counts_them(witnessed, tmp_path):
    h, key, witness, port = witnessed
    log_key = h.app.ledger_verifier_key
    with open(tmp_path / "witness.log", "w") as out, \
            witness_process(key, tmp_path / "state", [f"{h.settings.ledger_origin}={log_key}"], port, out) as url:
        sizes = []
        for _ in range(3):  # a growing ledger: each new checkpoint is cosigned from the last
            for _ in range(4):
                h.patient()
            size = int(latest_note(h, refresh=True).split("\n")[1])
            note = cosigned_note(h, witness, size)
            checkpoint, [cosignature] = require_cosignatures(note, NoteVerifier.from_key(log_key), [witness], 1)
            sizes.append(checkpoint.size)
            assert cosignature.name == "witness.test/w1" and cosignature.timestamp > 1_600_000_000
        assert sizes == sorted(set(sizes))
        # The witness serves the last checkpoint it cosigned (monitoring URL): log line and its own.
        monitoring = f"{url}/{origin_hash(h.settings.ledger_origin)}/checkpoint"
        with urllib.request.urlopen(monitoring) as answer:  # noqa: S310 (loopback)
            kept = answer.read().decode()
        assert split_note(kept)[0] == split_note(note)[0] and verify_cosignatures(kept, [witness])

        # The auditor requires the witness; a second witness that never cosigned makes a quorum of 2 fail.
        target = ["--target", h.target, "--data-dir", str(h.settings.data_dir), "--key", log_key]
        ok = run("audit", "verify", *target, "--state", str(tmp_path / "t.note"), "--witness", witness.to_key())
        assert ok.returncode == 0 and "cosigned by 1 of the witnesses given" in ok.stdout, ok.stderr
        absent = CosignatureVerifier.from_key(run("witness", "key", "--key", str(tmp_path / "w2.key"), "--name",
                                                  "witness.test/w2").stdout.strip())
        both = ["--witness", witness.to_key(), "--witness", absent.to_key()]
        short = run("audit", "verify", *target, "--state", str(tmp_path / "t2.note"), *both)
        assert short.returncode == 1 and "1 valid cosignatures" in short.stderr and "2 are required" in short.stderr
        assert run("audit", "verify", *target, "--state", str(tmp_path / "t3.note"), *both,
                   "--min-witnesses", "1").returncode == 0
        # An export carries the cosignatures, so it verifies offline with the witness required.
        export = tmp_path / "export"
        assert run("audit", "export", *target, "--out", str(export)).returncode == 0
        offline = run("audit", "verify", str(export), "--key", log_key, "--state", str(tmp_path / "t4.note"),
                      "--witness", witness.to_key())
        assert offline.returncode == 0, offline.stderr
    assert "200 POST /add-checkpoint" in (tmp_path / "witness.log").read_text()


def test_audit_verify_refuses_a_quorum_that_can_never_be_right(tmp_path):
    _, vkey = witness_key(tmp_path)
    for args, expected in [(["--witness", vkey, "--min-witnesses", "2"], "between 1 and the 1"),
                           (["--witness", vkey, "--min-witnesses", "0"], "between 1 and the 1"),
                           (["--min-witnesses", "1"], "needs the witnesses' keys"),
                           (["--witness", "not-a-key"], "--witness")]:
        result = run("audit", "verify", str(tmp_path), "--key", vkey, *args)
        assert result.returncode == 2 and expected in result.stderr, result.stderr


def test_a_witness_that_is_down_never_blocks_the_ledger_and_catches_up(witnessed, tmp_path):
    h, key, witness, port = witnessed
    logs = [f"{h.settings.ledger_origin}={h.app.ledger_verifier_key}"]
    for _ in range(3):
        h.patient()
    # Nothing listens yet: the ledger goes on, and serves its checkpoints with its own signature.
    note = latest_note(h, refresh=True)
    assert verify_cosignatures(note, [witness]) == [] and len(split_note(note)[1]) == 1
    with open(tmp_path / "witness.log", "w") as out:
        with witness_process(key, tmp_path / "state", logs, port, out):
            first = cosigned_note(h, witness, int(note.split("\n")[1]))
        # Down again (its state kept): the ledger grows and its new checkpoints are still served.
        for _ in range(5):
            h.patient()
        while_down = latest_note(h, refresh=True)
        assert int(while_down.split("\n")[1]) > int(first.split("\n")[1])
        assert verify_cosignatures(while_down, [witness]) == []
        with witness_process(key, tmp_path / "state", logs, port, out):
            caught_up = cosigned_note(h, witness, int(while_down.split("\n")[1]))
    assert split_note(caught_up)[0] == split_note(while_down)[0]
    # What the witness remembers is that checkpoint, reached by a proof from the first one.
    state = WitnessState(tmp_path / "state")
    try:
        remembered = state.latest(h.settings.ledger_origin)
    finally:
        state.close()
    assert remembered is not None and remembered.size == int(while_down.split("\n")[1])


def test_a_server_learns_where_a_witness_stands_from_its_409(harness, tmp_path):
    origin = harness.settings.ledger_origin
    with witness_server(tmp_path / "state", {origin: [NoteVerifier.from_key(harness.app.ledger_verifier_key)]}) \
            as (url, witness):
        harness.patient()
        latest_note(harness, refresh=True)
        assert Witnessing(harness.app.db, [WitnessEndpoint(url, witness.cosigner.verifier)], 1).round() == 1
        first = witness.state.latest(origin)
        harness.patient()
        size = int(latest_note(harness, refresh=True).split("\n")[1])
        # A restarted server knows nothing of the witness: it submits from 0, is told the size, resubmits.
        forgetful = WitnessEndpoint(url, witness.cosigner.verifier)
        assert first is not None and 0 < first.size < size
        assert Witnessing(harness.app.db, [forgetful], 1).round() == 1
        assert forgetful.cosigned_size == size == witness.state.latest(origin).size
        # Already cosigned: nothing is sent again, and the stored note keeps one line per witness.
        assert Witnessing(harness.app.db, [WitnessEndpoint(url, witness.cosigner.verifier)], 1).round() == 0
        assert len(split_note(latest_note(harness))[1]) == 2


def test_a_refusing_witness_is_logged_once_and_holds_nothing_back(harness, tmp_path, caplog):
    origin = harness.settings.ledger_origin
    stranger = NoteSigner.generate(origin).verifier  # the witness trusts another key for this origin
    with witness_server(tmp_path / "state", {origin: [stranger]}) as (url, witness):
        harness.patient()
        note = latest_note(harness, refresh=True)
        witnessing = Witnessing(harness.app.db, [WitnessEndpoint(url, witness.cosigner.verifier)], 1)
        with caplog.at_level(logging.WARNING, logger="consentry.witnessing"):
            assert witnessing.round() == 0 and witnessing.round() == 0
        [warning] = caplog.records
        assert "did not cosign checkpoint" in warning.message and "(403)" in warning.message
        assert latest_note(harness) == note  # served as it was, with the log's own signature


def test_the_witness_http_server_answers_what_is_not_add_checkpoint_in_one_line(tmp_path):
    with witness_server(tmp_path / "state", {}) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        for method, path, headers, body, status in [
            ("POST", "/elsewhere", {"Content-Length": "0"}, b"", 404),
            ("POST", "/add-checkpoint", {}, None, 411),
            ("POST", "/add-checkpoint", {"Content-Length": str(1 << 20)}, b"", 413),
            ("POST", "/add-checkpoint", {"Content-Length": "8"}, b"old 0\n\nx", 400),
            ("GET", f"/{'0' * 64}/checkpoint", {}, None, 404),
            ("GET", "/../../etc/passwd", {}, None, 404),
        ]:
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders(body)
            answer = connection.getresponse()
            text = answer.read()
            assert answer.status == status, (path, answer.status, text)
            assert text.endswith(b"\n") and text.count(b"\n") == 1, text
            connection.close()
