"""`consentry org notice publish | show`: the privacy notice an institution stands behind.

An institution publishes its notice itself (`--as org:ID` with its key and a practitioner
acting), or the operator publishes it for the institution (`--as operator --for ID`), the same
callers who manage its keys (docs/notices.md). The file is the notice as JSON: `purposes`,
`categories` and `texts`, one in `en` and one in `zh-Hans` with every part; `notice_id` publishes
that notice's next version. The server checks completeness and names every missing part.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from google.protobuf import json_format

from consentry.services.cli import acting, privacy_notice
from consentry.services.cli.common import DataDir, TlsClientCert, TlsClientKey, connect
from consentry.v1 import registry_pb2 as pb

Key = typer.Option(None, "--key", dir_okay=False,
                   help="The signer's key file [default with --as operator: operator.key in --data-dir]")
app = typer.Typer(help="The institution's privacy notice, shown to patients before they consent.",
                  no_args_is_help=True)


@app.command("publish")
def publish(file: Path = typer.Option(..., "--file", exists=True, dir_okay=False,
                                      help="The notice as JSON: purposes, categories, texts (en and zh-Hans)"),
            as_: str = typer.Option(..., "--as", help="Who publishes: org:<its id>, or operator (with --for)"),
            for_: str | None = typer.Option(None, "--for", help="With --as operator: the institution's id"),
            key: Path | None = Key,
            role: str = typer.Option("", "--role", help="An institution: the role the practitioner acts in"),
            practitioner: str = typer.Option("", "--practitioner", help="An institution: the practitioner acting"),
            target: str = acting.Target, data_dir: Path | None = DataDir,
            tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Publish a notice (or, with notice_id in the file, its next version); prints its id, version, hash."""
    institution_id = _institution(as_, for_)
    request = _request(file)
    request.institution_id = institution_id
    caller = acting.any_principal(key, as_, role, practitioner, data_dir)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        ref = client.registry.PublishPrivacyNotice(request).ref
    typer.echo(f"{ref.notice_id}\tv{ref.version}\t{ref.content_hash.hex()}")


@app.command("show")
def show(notice_id: str = typer.Argument(..., help="The notice"),
         version: int = typer.Option(0, "--version", min=0, help="A version [default: the latest]"),
         lang: str = privacy_notice.Lang,
         key: Path | None = Key,
         as_: str = typer.Option(..., "--as", help="Who asks: org:ID, patient:ID, auditor:ID or operator"),
         role: str = typer.Option("", "--role", help="An institution: the role the practitioner acts in"),
         practitioner: str = typer.Option("", "--practitioner", help="An institution: the practitioner acting"),
         target: str = acting.Target, data_dir: Path | None = DataDir,
         tls_client_cert: Path | None = TlsClientCert, tls_client_key: Path | None = TlsClientKey) -> None:
    """Print a notice version in one language, its content hash checked by the CLI."""
    if lang not in privacy_notice.LANGUAGES:
        raise typer.BadParameter(f"--lang must be one of {', '.join(privacy_notice.LANGUAGES)}")
    caller = acting.any_principal(key, as_, role, practitioner, data_dir)
    with connect(target, caller, tls_client_cert, tls_client_key) as client:
        notice, _ = privacy_notice.fetch(client, notice_id, version)
    for line in privacy_notice.lines(notice, lang):
        typer.echo(line)


def _institution(as_: str, for_: str | None) -> str:
    if as_ == "operator":
        if not for_:
            raise typer.BadParameter("--as operator publishes for an institution: give --for INSTITUTION")
        return for_
    if not as_.startswith("org:"):
        raise typer.BadParameter("--as must read org:<the institution's id> or operator")
    if for_ and for_ != as_.removeprefix("org:"):
        raise typer.BadParameter("an institution publishes its own notice: --for must be left out")
    return as_.removeprefix("org:")


def _request(file: Path) -> pb.PublishPrivacyNoticeRequest:
    try:
        return json_format.ParseDict(json.loads(file.read_text(encoding="utf-8")), pb.PublishPrivacyNoticeRequest())
    except (ValueError, json_format.ParseError) as exc:
        raise typer.BadParameter(f"--file {file} is not a privacy notice: {exc}") from None
