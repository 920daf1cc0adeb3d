"""`consentry audit`: the ledger's verifier key, an export of it, and its offline verification;
and the proof that a patient signed each change of a consent (`audit consent`).

Verification trusts nothing the server says: it recomputes the hash chain and the Merkle root
from the entries, checks the checkpoint's signature against the ledger key the auditor holds
(and, with `--witness`, a quorum of witness cosignatures), and checks that the log still extends
the last checkpoint this auditor trusted (kept in a local state file), so a rollback or a fork is
caught. Every checkpoint a command is shown, `export` included, must extend that one: the
server is asked for the consistency proof, and a split view fails naming both roots.

Client commands: an auditor runs them with `pip install consentry`, without the server extra.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import typer
from rich.progress import Progress

from consentry.ledger import (
    Checkpoint,
    CheckpointTrust,
    CosignatureVerifier,
    FileTrustStore,
    KeyHistory,
    KeyRotationError,
    LedgerError,
    NoteVerifier,
    check_consistency,
    parse_checkpoint,
    read_jsonl,
    require_cosignatures,
    split_note,
    verify_log,
)
from consentry.services import config as cfg
from consentry.services.cli.common import DataDir, TlsClientCert, TlsClientKey, connect, settings
from consentry.services.cli.datadir import ledger_signer, operator_key
from consentry.services.crypto import keyfiles
from consentry.services.domain.audit_events import audit_bundle, audit_events
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client, DisclosureNotProven
from consentry.services.sdk.consent_evidence import EvidenceNotProven, verify_consent_evidence
from consentry.v1 import audit_pb2

CHECKPOINT_FILE = "checkpoint.note"
ENTRIES_FILE = "entries.jsonl"
AUDIT_EVENTS_FILE = "auditevents.json"


class ExportFormat(enum.StrEnum):
    JSONL = "jsonl"
    FHIR_AUDITEVENT = "fhir-auditevent"


PAGE = 1000
PROGRESS_FROM = 20_000  # show a progress bar on runs at least this long

app = typer.Typer(help="Work with the audit ledger.", no_args_is_help=True)

Target = typer.Option(None, "--target", help="HOST:PORT of a running server")
Identity = typer.Option(None, "--identity", help="Key file of an auditor (default: the operator key in --data-dir)")
Principal = typer.Option(None, "--principal", help="The identity's principal, e.g. auditor:ombudsman")
State = typer.Option(None, "--state", help="Where the last trusted checkpoint is kept "
                     "[default: per key, under $XDG_STATE_HOME or ~/.local/state/consentry/]")


@app.command("key")
def audit_key(data_dir: Path | None = DataDir) -> None:
    """Print the ledger's checkpoint verifier key (signed-note verifier key format)."""
    typer.echo(ledger_signer(settings(data_dir)).verifier.to_key())


@app.command("export")
def audit_export(out: Path = typer.Option(..., "--out", help="Directory to write checkpoint.note and entries.jsonl"),
                 fmt: ExportFormat = typer.Option(ExportFormat.JSONL, "--format", help="Also write the entries "
                                                  f"as FHIR R4 AuditEvents in a Bundle ({AUDIT_EVENTS_FILE})"),
                 target: str = typer.Option(cfg.DEFAULT_LISTEN, "--target", help="HOST:PORT of a running server"),
                 key: str | None = typer.Option(None, "--key", help="The ledger verifier key [default: the "
                                                "ledger key in --data-dir]"),
                 data_dir: Path | None = DataDir, identity: Path | None = Identity,
                 principal: str | None = Principal, state: Path | None = State,
                 tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Export a fresh checkpoint and every entry it covers (JSON Lines), once it extends the last trusted one."""
    key = key or _data_dir_ledger_key(data_dir)
    try:
        with auditor_client(target, data_dir, identity, principal, tls_client_cert, tls_client_key) as client:
            size = export(client, out, CheckpointTrust(NoteVerifier.from_key(key),
                                                       FileTrustStore(state or default_state_file(key))),
                          with_audit_events=fmt is ExportFormat.FHIR_AUDITEVENT)
    except LedgerError as exc:
        typer.echo(f"FAILED: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"exported {size} entries and their checkpoint to {out}")


@app.command("verify")
def audit_verify(source: Path | None = typer.Argument(None, help="An export directory (or use --target)"),
                 key: str = typer.Option(..., "--key", help="The ledger verifier key (consentry audit key)"),
                 target: str | None = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
                 principal: str | None = Principal, state: Path | None = State,
                 witnesses: list[str] = typer.Option([], "--witness", help="A witness's verifier key (repeat); "
                                                     "its cosignature counts towards --min-witnesses"),
                 min_witnesses: int | None = typer.Option(None, "--min-witnesses", help="How many of the "
                                                          "--witness keys must have cosigned [default: all]"),
                 tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Recompute chain and root, check the signature and consistency with the last trusted checkpoint."""
    if (source is None) == (target is None):
        raise typer.BadParameter("give an export directory or --target, not both")
    quorum = witness_quorum(witnesses, min_witnesses)
    state = state or default_state_file(key)
    try:
        trust = CheckpointTrust(NoteVerifier.from_key(key), FileTrustStore(state))
        if source is not None:
            checkpoint = verify_export(source, trust, quorum)
        else:
            assert target is not None  # exactly one of the two, checked above
            with auditor_client(target, data_dir, identity, principal, tls_client_cert, tls_client_key) as client:
                checkpoint = verify_live(client, trust, quorum)
    except LedgerError as exc:
        typer.echo(f"FAILED: {exc}", err=True)
        raise typer.Exit(1) from exc
    cosigned = f", cosigned by {quorum.minimum} of the witnesses given" if quorum else ""
    typer.echo(f"verified {checkpoint.size} entries of {checkpoint.origin}: chain, root, signature{cosigned} and "
               f"consistency with the last trusted checkpoint ({state})")


@app.command("consent")
def audit_consent(consent_id: str = typer.Argument(..., help="The consent's id"),
                  key: str = typer.Option(..., "--key", help="The signer's Ed25519 public key (32 bytes, base64): "
                                                             "the patient's, or their proxy's"),
                  ledger_key: str | None = typer.Option(None, "--ledger-key",
                                                        help="Also prove each change's entry is in the ledger "
                                                             "signed by this key (consentry audit key)"),
                  target: str = typer.Option(cfg.DEFAULT_LISTEN, "--target", help="HOST:PORT of a running server"),
                  data_dir: Path | None = DataDir, identity: Path | None = Identity,
                  principal: str | None = Principal, tls_client_cert: Path | None = TlsClientCert,
                  tls_client_key: Path | None = TlsClientKey) -> None:
    """Prove that the key's holder signed every change of a consent, as the ledger records it."""
    public_key = _public_key(key)
    try:
        with auditor_client(target, data_dir, identity, principal, tls_client_cert, tls_client_key) as client:
            evidence = client.consent_evidence(consent_id)
            for item in evidence:
                change = verify_consent_evidence(item, public_key)
                if ledger_key:
                    client.prove_entry(item.ledger_seq, item.ledger_entry, ledger_key)
                name = change.method.rsplit("/", 1)[1]
                typer.echo(f"version {item.version}: {name} signed by {change.signer} (key {item.key_id}), "
                           f"ledger entry {item.ledger_seq}" + (" (in the signed ledger)" if ledger_key else ""))
    except grpc.RpcError as exc:
        typer.echo(f"FAILED: {exc.code().name}: {exc.details()}", err=True)
        raise typer.Exit(1) from exc
    except (EvidenceNotProven, DisclosureNotProven) as exc:
        typer.echo(f"FAILED: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not evidence:
        typer.echo("FAILED: the service keeps no signed change of this consent", err=True)
        raise typer.Exit(1)
    typer.echo(f"verified {len(evidence)} signed changes of consent {consent_id}")


def _public_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise typer.BadParameter("--key must be a 32-byte Ed25519 public key in base64")
    return raw


def auditor_client(target: str, data_dir: Path | None, identity: Path | None, principal: str | None,
            tls_client_cert: Path | None, tls_client_key: Path | None) -> Client:
    if identity is not None:
        if not principal:
            raise typer.BadParameter("--identity needs --principal")
        caller = Caller(principal, keyfiles.load_signing_key(identity))
    else:
        caller = Caller("operator", operator_key(settings(data_dir)))
    return connect(target, caller, tls_client_cert, tls_client_key)


# -- export and verification ----------------------------------------------------------------

def latest_checkpoint(client: Client) -> audit_pb2.Checkpoint:
    return client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest()).checkpoint


def stream_entries(client: Client, size: int) -> Iterator[bytes]:
    """Entries 0..size-1, paged, with a progress bar on long runs."""
    with Progress(disable=size < PROGRESS_FROM, transient=True) as progress:
        task = progress.add_task("reading entries", total=size)
        start = 0
        while start < size:
            page = client.audit.ListEntries(audit_pb2.ListEntriesRequest(start=start, page_size=PAGE))
            if not page.entries:
                return
            for e in page.entries[: size - start]:
                yield e.entry
            progress.advance(task, len(page.entries))
            start = page.next_start


def export(client: Client, out: Path, trust: CheckpointTrust, *, with_audit_events: bool = False) -> int:
    """Writes a fresh checkpoint and every entry it covers (and, with `with_audit_events`, the entries
    as a FHIR Bundle of AuditEvents); returns the tree size.

    The server cuts the checkpoint first, so the export does not lag the ledger. It must extend
    the last trusted one (a consistency proof from the server), and becomes the trusted one: an
    export never shows a history other than the one trusted before.
    """
    note = client.audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(refresh=True)).checkpoint.note
    # Signed by the pinned key or one the ledger rotated it to: known from the entries, so
    # checked once they are written (below), as `audit verify` does.
    checkpoint = unverified_checkpoint(note)
    trusted_note = trust.store.load()
    if trusted_note is not None:  # a split view fails before anything is downloaded
        trusted = unverified_checkpoint(trusted_note)
        asked = 0 < trusted.size < checkpoint.size
        check_consistency(trusted, checkpoint,
                          consistency_proofs(client)(trusted.size, checkpoint.size) if asked else [])
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    with open(out / ENTRIES_FILE, "wb") as fh:
        for seq, entry in enumerate(stream_entries(client, checkpoint.size)):
            fh.write(entry + b"\n")
            if with_audit_events:
                entries.append((seq, entry))
    _verify(read_jsonl(out / ENTRIES_FILE), note, trust, None)
    if with_audit_events:
        bundle = audit_bundle(audit_events(entries, checkpoint.origin))
        (out / AUDIT_EVENTS_FILE).write_text(json.dumps(bundle, indent=1) + "\n")
    (out / CHECKPOINT_FILE).write_text(note)
    return checkpoint.size


def consistency_proofs(client: Client) -> Callable[[int, int], list[bytes]]:
    """Asks the server for the RFC 9162 proof between two sizes (checked by the caller)."""
    def prove(old_size: int, new_size: int) -> list[bytes]:
        reply = client.audit.GetConsistencyProof(
            audit_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=new_size))
        return list(reply.hashes)
    return prove


@dataclass(frozen=True)
class WitnessQuorum:
    """The witness keys whose cosignatures count, and how many of them a checkpoint needs."""

    witnesses: list[CosignatureVerifier]
    minimum: int


def witness_quorum(vkeys: list[str], minimum: int | None) -> WitnessQuorum | None:
    if not vkeys:
        if minimum is not None:
            raise typer.BadParameter("--min-witnesses needs the witnesses' keys (--witness)")
        return None
    try:
        witnesses = list(dict.fromkeys(CosignatureVerifier.from_key(vkey) for vkey in vkeys))
    except LedgerError as exc:
        raise typer.BadParameter(f"--witness: {exc}") from exc
    minimum = len(witnesses) if minimum is None else minimum
    if not 1 <= minimum <= len(witnesses):
        raise typer.BadParameter(f"--min-witnesses must be between 1 and the {len(witnesses)} distinct --witness keys")
    return WitnessQuorum(witnesses, minimum)


def verify_export(directory: Path, trust: CheckpointTrust, quorum: WitnessQuorum | None) -> Checkpoint:
    note = (directory / CHECKPOINT_FILE).read_text()
    return _verify(read_jsonl(directory / ENTRIES_FILE), note, trust, quorum)


def verify_live(client: Client, trust: CheckpointTrust, quorum: WitnessQuorum | None) -> Checkpoint:
    note = latest_checkpoint(client).note
    checkpoint = unverified_checkpoint(note)
    return _verify(stream_entries(client, checkpoint.size), note, trust, quorum)


def default_state_file(key: str) -> Path:
    home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return home / "consentry" / f"trusted-{hashlib.sha256(key.encode()).hexdigest()[:16]}.note"


def _verify(entries: Iterable[bytes], note: str, trust: CheckpointTrust, quorum: WitnessQuorum | None) -> Checkpoint:
    """Chain and root from the entries, checked against the trusted checkpoint's root too (the
    entries prove consistency themselves); the signature by the pinned key or one the log rotated
    it to (docs/ledger.md, "Key rotation"), and the witness quorum; then trusts the checkpoint.

    The trusted checkpoint's own signature is checked once the entries told which keys count (a
    key revoked since still counts for it: the entries hash to its root, so it states the log
    that the current key signs)."""
    witnesses = quorum.witnesses if quorum is not None else []
    trusted_note = trust.store.load()
    trusted = unverified_checkpoint(trusted_note) if trusted_note is not None else None
    keys = KeyHistory(trust.verifier, trust.origin)
    checkpoint = verify_log(entries, note, trust.verifier, trusted=trusted, keys=keys, witnesses=witnesses)
    if trusted_note is not None:
        try:
            keys.accept(trusted_note, revoked_ok=True)
        except LedgerError as exc:
            raise KeyRotationError(f"the checkpoint trusted before is not signed by the ledger key: {exc}") from exc
    if quorum is not None:
        require_cosignatures(note, keys.accept(note, witnesses), quorum.witnesses, quorum.minimum)
    if keys.current != trust.verifier:
        typer.echo(f"the ledger key was rotated (ledger.key_rotated): now {keys.current.to_key()}", err=True)
    if trusted is None or checkpoint.size >= trusted.size:
        trust.store.save(note)
    return checkpoint


def unverified_checkpoint(note: str) -> Checkpoint:
    """The checkpoint a note states, its signatures not yet checked (verify_log checks them)."""
    return parse_checkpoint(split_note(note)[0])


def _data_dir_ledger_key(data_dir: Path | None) -> str:
    config = settings(data_dir)
    if not config.key_path(cfg.LEDGER_SIGNING_KEY).exists():
        raise typer.BadParameter("give the ledger verifier key (--key), or a --data-dir holding the ledger key")
    return ledger_signer(config).verifier.to_key()
