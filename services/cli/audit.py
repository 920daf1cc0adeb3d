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
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import grpc
import typer
from rich.progress import Progress

from consentry.ledger import (
    EXPORT_CHECKPOINT_FILE,
    EXPORT_ENTRIES_FILE,
    VERIFY_HELP,
    CheckpointTrust,
    FileTrustStore,
    LedgerError,
    NoteVerifier,
    VerifyOptions,
    VerifySource,
    check_consistency,
    default_state_file,
    export_source,
    read_jsonl,
    run_verify,
    unverified_checkpoint,
    verify_trusted,
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
def audit_verify(source: Path | None = typer.Argument(None, help=VERIFY_HELP["source"] + " (or use --target)"),
                 key: str = typer.Option(..., "--key", help=VERIFY_HELP["--key"]),
                 target: str | None = Target, data_dir: Path | None = DataDir, identity: Path | None = Identity,
                 principal: str | None = Principal,
                 state: Path | None = typer.Option(None, "--state", help=VERIFY_HELP["--state"]),
                 witnesses: list[str] = typer.Option([], "--witness", help=VERIFY_HELP["--witness"]),
                 min_witnesses: int | None = typer.Option(None, "--min-witnesses", help=VERIFY_HELP["--min-witnesses"]),
                 strict: bool = typer.Option(False, "--strict", help=VERIFY_HELP["--strict"]),
                 tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Recompute chain and root, check the signature and consistency with the last trusted checkpoint.

    The offline verifier's command (python -m consentry.ledger.verify), the same arguments and
    lines; --target reads a running server instead of an export."""
    if (source is None) == (target is None):
        raise typer.BadParameter("give an export directory or --target, not both")
    options = VerifyOptions(key, state, witnesses, min_witnesses, strict)
    if source is not None:
        code = run_verify(options, export_source(source))
    else:
        assert target is not None  # exactly one of the two, checked above
        with auditor_client(target, data_dir, identity, principal, tls_client_cert, tls_client_key) as client:
            code = run_verify(options, live_source(client))
    if code:
        raise typer.Exit(code)


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
    with open(out / EXPORT_ENTRIES_FILE, "wb") as fh:
        for seq, entry in enumerate(stream_entries(client, checkpoint.size)):
            fh.write(entry + b"\n")
            if with_audit_events:
                entries.append((seq, entry))
    verify_trusted(read_jsonl(out / EXPORT_ENTRIES_FILE), note, trust, None)
    if with_audit_events:
        bundle = audit_bundle(audit_events(entries, checkpoint.origin))
        (out / AUDIT_EVENTS_FILE).write_text(json.dumps(bundle, indent=1) + "\n")
    (out / EXPORT_CHECKPOINT_FILE).write_text(note)
    return checkpoint.size


def consistency_proofs(client: Client) -> Callable[[int, int], list[bytes]]:
    """Asks the server for the RFC 9162 proof between two sizes (checked by the caller)."""
    def prove(old_size: int, new_size: int) -> list[bytes]:
        reply = client.audit.GetConsistencyProof(
            audit_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=new_size))
        return list(reply.hashes)
    return prove


def live_source(client: Client) -> VerifySource:
    """The server's latest checkpoint and the entries it covers, streamed."""
    def read() -> tuple[str, Iterable[bytes]]:
        note = latest_checkpoint(client).note
        return note, stream_entries(client, unverified_checkpoint(note).size)
    return read


def _data_dir_ledger_key(data_dir: Path | None) -> str:
    config = settings(data_dir)
    if not config.key_path(cfg.LEDGER_SIGNING_KEY).exists():
        raise typer.BadParameter("give the ledger verifier key (--key), or a --data-dir holding the ledger key")
    return ledger_signer(config).verifier.to_key()
