"""`consentry receipt verify`, and the receipt a patient's consent change writes (`--receipt-out`).

A receipt file is the ConsentReceipt message in protobuf's JSON form (docs/receipts.md, "Receipt
files"): what the web portal downloads too. It is checked against the service's share-signing
key pinned out of band (`--service-key`, base64), never against a key the server sends with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from google.protobuf import json_format
from google.protobuf.message import Message
from nacl.signing import VerifyKey

from consentry.services.cli import acting
from consentry.services.cli.common import TlsClientCert, TlsClientKey, connect
from consentry.services.sdk.client import Client
from consentry.services.sdk.consent_receipts import ReceiptInvalid, verify_consent_receipt
from consentry.v1 import consent_pb2 as pb

app = typer.Typer(help="Signed consent receipts: check one offline.", no_args_is_help=True)

ServiceKey = typer.Option(None, "--service-key", envvar="CONSENTRY_SERVICE_KEY",
                          help="The service's share-signing key (base64), pinned out of band: the receipt is "
                               "checked against it")
ReceiptOut = typer.Option(None, "--receipt-out", dir_okay=False,
                          help="Write the change's signed receipt here (JSON; needs --service-key)")


def change(client: Client, method: str, request: Message, service_key: str | None,
           receipt_out: Path | None) -> Any:
    """Makes the consent change; with a service key its receipt is verified first (ReceiptInvalid
    ends the command) and, with `receipt_out`, written to that file."""
    if service_key is None:
        if receipt_out is not None:
            raise typer.BadParameter("--receipt-out needs --service-key: a receipt is written only once it verifies")
        return getattr(client.consent, method)(request)
    key = VerifyKey(acting.public_key(service_key, "--service-key"))
    response: Any
    response, _ = client.change_consent(method, request, key)
    if receipt_out is not None:
        receipt_out.write_text(json_format.MessageToJson(response.receipt) + "\n", encoding="utf-8")
    return response


def summary(statement: dict) -> str:
    """One line: the change, the consent version, who to whom, the terms, the ledger position."""
    terms = statement["terms"]
    until = (terms["validity"] or {}).get("end") or "no end"
    excepted = f" except {','.join(terms['excepted_categories'])}" if terms["excepted_categories"] else ""
    return (f"{statement['change']}\t{statement['consent_id']}\tv{statement['version']}\t"
            f"{statement['patient_id']} -> {statement['grantee']} (signed by {statement['signed_by']})\t"
            f"{terms['kind']} {','.join(terms['categories'])}{excepted} for {','.join(terms['purposes'])} "
            f"until {until}\t{statement['time']}\tledger #{statement['ledger']['seq']}")


@app.command("verify")
def verify(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A receipt file (JSON)"),
           service_key: str = typer.Option(..., "--service-key", envvar="CONSENTRY_SERVICE_KEY",
                                           help="The service's share-signing key (base64), pinned out of band"),
           ) -> None:
    """Check a receipt's signature and format; print its terms in one line."""
    key = VerifyKey(acting.public_key(service_key, "--service-key"))
    try:
        receipt = json_format.Parse(file.read_text(encoding="utf-8"), pb.ConsentReceipt())
    except (json_format.ParseError, UnicodeDecodeError) as exc:
        raise ReceiptInvalid(f"{file} is not a receipt file: {str(exc).splitlines()[0]}") from None
    typer.echo(summary(verify_consent_receipt(receipt, key)))


@app.command("list")
def list_(consent_id: str = typer.Argument(..., help="The consent"),
          service_key: str = typer.Option(..., "--service-key", envvar="CONSENTRY_SERVICE_KEY",
                                          help="The service's share-signing key (base64), pinned out of band"),
          out: Path | None = typer.Option(None, "--out", file_okay=False,
                                          help="Also write each receipt to DIR/<consent>-v<version>-<change>.json"),
          key: Path = acting.KeyFile,
          as_: str = typer.Option(..., "--as", help="Who signs: patient:ID (the patient, or a proxy of theirs) or "
                                                    "org:ID (the grantee)"),
          role: str = typer.Option("", "--role", help="The grantee: the role the practitioner acts in"),
          practitioner: str = typer.Option("", "--practitioner", help="The grantee: the practitioner acting"),
          target: str = acting.Target, tls_client_cert: Path | None = TlsClientCert,
          tls_client_key: Path | None = TlsClientKey) -> None:
    """Every receipt of a consent's changes, oldest first, each checked against --service-key: for
    the patient, their proxies with the manage-consents scope, and the grantee."""
    verify_key = VerifyKey(acting.public_key(service_key, "--service-key"))
    caller = acting.any_principal(key, as_, role, practitioner, None)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        found = client.consent_receipts(consent_id, verify_key)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for receipt, statement in found:
        typer.echo(summary(statement))
        if out is not None:
            name = f"{statement['consent_id']}-v{statement['version']}-{statement['change']}.json"
            (out / name).write_text(json_format.MessageToJson(receipt) + "\n", encoding="utf-8")
