"""`consentry witness`: run a C2SP tlog-witness for Consentry ledgers (or any log with Ed25519 notes).

    consentry witness key --key witness.key --name witness.example/w1   # create; prints the vkey
    consentry witness serve --listen 0.0.0.0:8443 --key witness.key --state ./witness-state \\
        --log consentry.local/ledger=<the ledger's verifier key>

The witness cosigns a checkpoint only if it extends the last one it cosigned for that log
(docs/ledger.md, "Witnesses"). Client commands: they run on `pip install consentry`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NoReturn

import typer

from consentry.ledger import Cosigner, LedgerError, NoteVerifier, Witness, WitnessState
from consentry.services.cli.witness_http import WitnessHTTPServer
from consentry.services.crypto import keyfiles
from consentry.services.crypto.errors import KeyFileError

app = typer.Typer(help="Run a witness that cosigns consistent ledger checkpoints.", no_args_is_help=True)

KeyFile = typer.Option(..., "--key", help="The witness's private key file (created 0600 by `witness key`)")


@app.command("key")
def witness_key(key: Path = KeyFile,
                name: str | None = typer.Option(None, "--name", help="The witness's name when creating its key, "
                                                "a schema-less URL such as witness.example/w1")) -> None:
    """Print the witness's verifier key (vkey), creating its private key first if the file is missing."""
    try:
        if not key.exists():
            if not name:
                _fail(f"{key} does not exist; give --name to create the witness key")
            cosigner = Cosigner.generate(name)
            keyfiles.create_private_file(key, (cosigner.to_key() + "\n").encode())
        cosigner = load_cosigner(key)
    except (LedgerError, KeyFileError) as exc:
        _fail(str(exc))
    if name and name != cosigner.name:
        _fail(f"{key} is the key of {cosigner.name}, not {name}")
    typer.echo(cosigner.verifier.to_key())


@app.command("serve")
def witness_serve(listen: str = typer.Option("127.0.0.1:7380", "--listen", help="HOST:PORT to listen on"),
                  key: Path = KeyFile,
                  state: Path = typer.Option(..., "--state", help="Directory keeping the last cosigned "
                                             "checkpoint of each log"),
                  logs: list[str] = typer.Option(..., "--log", help="ORIGIN=VKEY of a log to witness (repeat "
                                                 "for more logs or keys)")) -> None:
    """Serve add-checkpoint (POST /add-checkpoint) and the last cosigned checkpoints (GET /<origin hash>/checkpoint)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        host, port = _address(listen)
        witness = Witness(load_cosigner(key), parse_logs(logs), WitnessState(state))
        server = WitnessHTTPServer((host, port), witness)
    except (LedgerError, KeyFileError, OSError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"witness {witness.cosigner.name} serving on {host}:{server.server_port} for {', '.join(witness.logs)}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        witness.state.close()


def load_cosigner(path: Path) -> Cosigner:
    return Cosigner.from_key(keyfiles.read_private_file(path).decode("ascii", errors="replace"))


def parse_logs(items: list[str]) -> dict[str, list[NoteVerifier]]:
    """`ORIGIN=VKEY` items as origin -> trusted log keys (an origin holds no `=`)."""
    logs: dict[str, list[NoteVerifier]] = {}
    for item in items:
        origin, sep, vkey = item.partition("=")
        if not sep or not origin:
            raise ValueError(f"--log {item!r} is not ORIGIN=VKEY")
        logs.setdefault(origin, []).append(NoteVerifier.from_key(vkey))
    return logs


def _address(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen {listen!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
