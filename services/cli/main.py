"""The `consentry` command: the command groups, assembled.

Client commands (`audit`, `org`, `tls`, `witness`, `demo --target`) run on `pip install
consentry`; server commands (`init`, `serve`, `demo`, `keys`, `ledger`, `incident`) need `consentry[server]` and say so
when it is missing. Importing this module imports nothing of the server.
"""

from __future__ import annotations

import typer

from consentry.services.cli import audit, demo, incident, keys, ledger, org, rights, server, tls, witness

app = typer.Typer(help="Consentry: consented, encrypted, audited sharing of patient records.",
                  no_args_is_help=True, add_completion=False)
app.add_typer(audit.app, name="audit")
app.add_typer(incident.app, name="incident")
app.add_typer(keys.app, name="keys")
app.add_typer(ledger.app, name="ledger")
app.add_typer(org.app, name="org")
app.add_typer(rights.app, name="rights")
app.add_typer(tls.app, name="tls")
app.add_typer(witness.app, name="witness")
app.command()(server.init)
app.command()(server.serve)
app.command()(demo.demo)


if __name__ == "__main__":
    app()
