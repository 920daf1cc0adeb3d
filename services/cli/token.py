"""`consentry token METHOD`: a fresh call token for a tool that does not sign its own calls.

A token binds the SHA-256 of the request message's exact bytes (the `req` claim,
docs/identity.md), so this command takes the request as JSON, encodes it as the method's
protobuf message once, signs a token for those bytes and prints the token, the bytes (base64 and
hex) and a `grpcurl` line. A tool must send exactly these bytes: grpcurl re-encodes the JSON,
which gives the same bytes for Consentry's messages (no maps; fields in number order), but a
client that can send raw bytes should send the printed ones.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shlex
from pathlib import Path

import typer
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

import consentry.v1
from consentry.services.cli import acting
from consentry.services.cli.common import DataDir

SHOWN = ("all", "token", "base64", "hex", "grpcurl")


def token(method: str = typer.Argument(..., help="The method: /consentry.v1.Service/Method, Service/Method or "
                                                 "Method"),
          request_json: str | None = typer.Option(None, "--request-json", help="The request message as JSON"),
          request_file: Path | None = typer.Option(None, "--request-file", dir_okay=False,
                                                   help="A file holding the request message as JSON"),
          as_: str = typer.Option("operator", "--as", help="Who signs: org:ID, patient:ID, auditor:ID or operator"),
          key: Path | None = typer.Option(None, "--key", dir_okay=False,
                                          help="The signer's key file [operator: operator.key in --data-dir]"),
          role: str = typer.Option("", "--role", help="An institution: the role the practitioner acts in"),
          practitioner: str = typer.Option("", "--practitioner", help="An institution: the practitioner acting"),
          lifetime: int = typer.Option(60, "--lifetime", min=1, max=300, help="Seconds the token is valid"),
          target: str = acting.Target, data_dir: Path | None = DataDir,
          show: str = typer.Option("all", "--print", help=f"What to print: {', '.join(SHOWN)}")) -> None:
    """Print a fresh token for one call of METHOD with one request (empty without --request-*)."""
    if show not in SHOWN:
        raise typer.BadParameter(f"--print must be one of {', '.join(SHOWN)}")
    if request_json is not None and request_file is not None:
        raise typer.BadParameter("give --request-json or --request-file, not both")
    described = find_method(method)
    text = request_file.read_text() if request_file is not None else request_json or "{}"
    request = _parse(text, message_factory.GetMessageClass(described.input_type)())
    raw = request.SerializeToString()
    full = f"/{described.containing_service.full_name}/{described.name}"
    signed = acting.any_principal(key, as_, role, practitioner, data_dir).token(full, raw, lifetime_s=lifetime)
    lines = {
        "token": f"authorization: Bearer {signed}",
        "base64": f"request-base64: {acting.b64(raw)}",
        "hex": f"request-hex: {raw.hex()}",
        "grpcurl": _grpcurl(signed, request, target, full),
    }
    for name, line in lines.items():
        if show in ("all", name):
            typer.echo(line.split(": ", 1)[1] if show == name and name != "grpcurl" else line)


def find_method(name: str) -> MethodDescriptor:
    """The one method of the consentry.v1 services that `name` names, in any of the accepted forms."""
    wanted = name.strip("/").replace("/", ".")
    found = [m for m in _methods() if f".{m.containing_service.full_name}.{m.name}".endswith("." + wanted)]
    if len(found) != 1:
        known = "no such method" if not found else "ambiguous: " + ", ".join(
            f"{m.containing_service.name}/{m.name}" for m in found)
        raise typer.BadParameter(f"{name}: {known}")
    return found[0]


def _methods() -> list[MethodDescriptor]:
    methods = []
    for module in pkgutil.iter_modules(consentry.v1.__path__):
        if module.name.endswith("_pb2"):
            descriptor = importlib.import_module(f"consentry.v1.{module.name}").DESCRIPTOR
            for service in descriptor.services_by_name.values():
                methods.extend(service.methods)
    return methods


def _parse(text: str, request: Message) -> Message:
    try:
        return json_format.Parse(text, request)
    except (json_format.ParseError, json.JSONDecodeError) as exc:
        raise typer.BadParameter(f"the request is not a {request.DESCRIPTOR.name}: {exc}") from None


def _grpcurl(signed: str, request: Message, target: str, full: str) -> str:
    ca = os.environ.get("CONSENTRY_TLS_CA")
    transport = ["-cacert", ca] if ca else ["-plaintext"]
    body = json_format.MessageToJson(request, indent=None)
    return shlex.join(["grpcurl", *transport, "-H", f"authorization: Bearer {signed}", "-d", body, target,
                       full.lstrip("/")])
