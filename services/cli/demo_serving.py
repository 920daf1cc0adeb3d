"""`consentry demo --keep-serving`: after the story, the demo's server stays up with its web
pages so that a person can try the patient portal; it stops on Ctrl-C (or SIGTERM) and its
temporary data directory goes with it."""

from __future__ import annotations

import signal
import threading

import typer

from consentry.services.config import Settings


def keep_serving(target: str, web_url: str, config: Settings) -> None:
    """Prints how to enrol a browser's key with the running server, then waits to be stopped."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    typer.echo("")
    typer.echo(f"The server keeps running. Patient portal: {web_url}portal/")
    typer.echo("  1. Open it, type a patient id of your choice (e.g. me-1) and press 'Create my key'.")
    typer.echo("  2. Enrol the public key it shows, as the operator, in another terminal:")
    typer.echo(f"     consentry operator enrol-patient --id me-1 --identity-public-key KEY "
               f"--target {target} --data-dir {config.data_dir}")
    typer.echo("  3. Press 'Open' in the portal.")
    typer.echo("Stop with Ctrl-C.")
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        typer.echo("")
    finally:
        signal.signal(signal.SIGTERM, previous)
