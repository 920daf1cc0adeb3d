"""`consentry demo --keep-serving`: after the story, the demo's server stays up with its web
pages so that a person can try the patient portal; it stops on Ctrl-C (or SIGTERM) and its
temporary data directory goes with it."""

from __future__ import annotations

import secrets
import signal
import threading

import typer

from consentry.services.cli.datadir import operator_key
from consentry.services.config import Settings
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import registry_pb2


def keep_serving(target: str, web_url: str, config: Settings) -> None:
    """Prints how to enrol a browser's key with the running server (a one-time code made now, or
    the operator's command), then waits to be stopped."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    patient = f"you-{secrets.token_hex(2)}"
    with Client(target, Caller("operator", operator_key(config))) as operator:
        code = operator.registry.CreateEnrolmentCode(registry_pb2.CreateEnrolmentCodeRequest(patient_id=patient)).code
    typer.echo("")
    typer.echo(f"The server keeps running. Patient portal: {web_url}portal/")
    typer.echo(f"  Enrol there with the one-time code {code} (for the new patient {patient}), then press 'Open'.")
    typer.echo("  Or type an id of your choice, press 'Create my key' and enrol the public key shown, as the")
    typer.echo("  operator, in another terminal:")
    typer.echo(f"    consentry operator enrol-patient --id ID --identity-public-key KEY "
               f"--target {target} --data-dir {config.data_dir}")
    typer.echo("Stop with Ctrl-C.")
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        typer.echo("")
    finally:
        signal.signal(signal.SIGTERM, previous)
