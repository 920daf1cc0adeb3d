"""The `consentry` command: the command groups, assembled.

Client commands (`audit`, `org`, `patient`, `operator`, `rights`, `token`, `tls`, `witness`,
`demo --target`) run on `pip install consentry`; server commands (`init`, `serve`, `demo`,
`keys`, `ledger`, `incident`) need `consentry[server]` and say so when it is missing. Importing
this module imports nothing of the server.

`main` is the installed entry point: whatever refuses a command (the server, a key file, a share
package check, a flag, a setting, the database, a bug) ends it with one line on stderr and an exit
code for its kind, never a traceback; `consentry --debug ...` (or CONSENTRY_DEBUG=1) prints the
traceback of an unexpected error too.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import NoReturn

import grpc
import typer

from consentry.services.cli import (
    audit,
    audit_emergencies,
    backup,
    demo,
    enrolment_codes,
    incident,
    keys,
    ledger,
    operator,
    org,
    org_keys,
    org_notices,
    org_records,
    org_requests,
    patient,
    patient_notices,
    patient_preview,
    patient_proxies,
    patient_readings,
    receipt,
    rights,
    server,
    tls,
    token,
    witness,
)
from consentry.services.config import ConfigError
from consentry.services.crypto.errors import CryptoError
from consentry.services.sdk.client import DisclosureNotProven
from consentry.services.sdk.consent_receipts import ReceiptInvalid

app = typer.Typer(help="Consentry: consented, encrypted, audited sharing of patient records.",
                  no_args_is_help=True, add_completion=False)
app.add_typer(audit.app, name="audit")
audit.app.command("emergencies")(audit_emergencies.emergencies)
audit.app.command("review")(audit_emergencies.review)
app.add_typer(incident.app, name="incident")
app.add_typer(keys.app, name="keys")
app.add_typer(ledger.app, name="ledger")
app.add_typer(org.app, name="org")
org.app.add_typer(org_keys.app, name="key")
org.app.add_typer(org_notices.app, name="notice")
org.app.command("deposit")(org_records.deposit)
org.app.command("records")(org_records.records)
org.app.command("erase")(org_records.erase)
org.app.command("fetch")(org_records.fetch)
org.app.command("request-access")(org_requests.request_access)
org.app.command("requests")(org_requests.requests)
org.app.command("watch")(org_requests.watch)
app.add_typer(patient.app, name="patient")
patient.app.add_typer(patient_proxies.app, name="proxy")
patient.app.command("notices")(patient_notices.notices)
patient.app.command("emergency")(patient_notices.emergency)
patient.app.add_typer(patient_readings.app, name="reading")
patient.app.command("preview")(patient_preview.preview)
app.add_typer(receipt.app, name="receipt")
app.add_typer(operator.app, name="operator")
operator.app.command("enrolment-code")(enrolment_codes.enrolment_code)
patient.app.command("redeem")(enrolment_codes.redeem)
app.add_typer(rights.app, name="rights")
app.add_typer(tls.app, name="tls")
app.add_typer(witness.app, name="witness")
app.command()(server.init)
app.command()(server.serve)
app.command()(demo.demo)
app.command()(token.token)
app.command()(backup.backup)
app.command()(backup.restore)


# Exit codes, one per kind of failure (README, "Errors").
REFUSED, USAGE, CONFIG, DATABASE, TIMED_OUT, UNAVAILABLE, INTERNAL, INTERRUPTED = 1, 2, 3, 4, 5, 6, 70, 130
# A call that ends without an answer in time, or unanswerable after the client's retries
# (sdk/call_policy.py): nothing is wrong with the command, it may work later.
_TRANSIENT = {grpc.StatusCode.DEADLINE_EXCEEDED: (TIMED_OUT, "the server did not answer in time (each call has "
                                                  "$CONSENTRY_CLIENT_TIMEOUT_S seconds, default 30)"),
              grpc.StatusCode.UNAVAILABLE: (UNAVAILABLE, "")}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    debug = bool(args[:1] == ["--debug"] or os.environ.get("CONSENTRY_DEBUG") == "1")
    args = args[1:] if args[:1] == ["--debug"] else args
    try:
        code = app(args=args, prog_name="consentry", standalone_mode=False)
    except typer.TyperException as exc:  # a bad flag or argument (click's exceptions, as typer has them)
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group called bare: making it printed its help
            typer.echo(exc.format_message(), nl=False)
            sys.exit(exc.exit_code)
        context = getattr(exc, "ctx", None)
        _refuse(args, exc.format_message(), exc.exit_code, context.command_path if context else None)
    except typer.Abort:
        _refuse(args, "interrupted", INTERRUPTED)
    except grpc.RpcError as exc:
        code, why = _TRANSIENT.get(exc.code(), (REFUSED, ""))
        _refuse(args, f"{exc.code().name}: {why or exc.details()}", code)
    except (CryptoError, DisclosureNotProven, ReceiptInvalid) as exc:
        _refuse(args, str(exc), REFUSED)
    except ConfigError as exc:
        _refuse(args, str(exc), CONFIG)
    except OSError as exc:
        _refuse(args, f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), REFUSED)
    except Exception as exc:  # the database, or a bug: still one line, the traceback on --debug
        if debug:
            traceback.print_exc()
        if type(exc).__module__.split(".")[0] == "sqlalchemy":  # not imported: a client install has none
            _refuse(args, f"the database cannot be used: {_first_line(exc)}", DATABASE)
        _refuse(args, f"internal error ({type(exc).__name__}: {_first_line(exc)}); run with --debug for the "
                      "traceback", INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def _refuse(args: list[str], message: str, code: int, command: str | None = None) -> NoReturn:
    """One line: `consentry <group>: <message>` (a usage error names the whole command)."""
    if command is None:
        group = next((a for a in args[:1] if not a.startswith("-")), "")
        command = f"consentry {group}".strip()
    line = " ".join(message.split())  # a multi-line message on one line
    typer.echo(f"{command}: {line}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
