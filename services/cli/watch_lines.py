"""`consentry patient watch` and `consentry org watch`: one line per event of a live stream
(docs/watch.md) until interrupted. A stream the server ended or lost is opened again after the
last ledger seq printed, so nothing is skipped or printed twice."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import typer

from consentry.services.cli.consent_terms import request_line
from consentry.services.sdk.client import Client
from consentry.services.sdk.watches import Watch
from consentry.v1 import consent_pb2 as pb

RETRY_S = 2.0
_NOTICE = {pb.NOTICE_KIND_EMERGENCY_ACCESS: "EMERGENCY", pb.NOTICE_KIND_RECORD_AMENDED: "amended"}


def follow(open_watch: Callable[[int], Watch[Any]], line: Callable[[Any], tuple[int, str] | None],
           after: int = 0) -> None:
    """Prints `line(response)` for each response (None: nothing to print) until interrupted;
    `line` also gives the response's ledger seq (0 when it has none), resumed after."""
    try:
        while True:
            for response in _responses(open_watch(after)):
                printed = line(response)
                if printed is not None:
                    seq, text = printed
                    after = max(after, seq)
                    typer.echo(text)
            time.sleep(RETRY_S)
    except KeyboardInterrupt:
        return


def _responses(watch: Watch[Any]) -> Iterator[Any]:
    try:
        yield from watch
    except grpc.RpcError as error:
        if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
        print(f"the stream ended ({error.code().name}); reconnecting", file=sys.stderr)
    finally:
        watch.cancel()


def access_line(client: Client, history_line: Callable[[pb.AccessEvent], str]) -> Callable[
        [pb.WatchAccessResponse], tuple[int, str] | None]:
    """A patient's line: the access as `patient history` prints it, a new access request as
    `request <the request>`, another notice as `notice <kind> <what it is about>`."""
    def line(response: pb.WatchAccessResponse) -> tuple[int, str] | None:
        kind = response.WhichOneof("event")
        if kind == "access":
            return response.access.ledger_seq, history_line(response.access)
        if kind != "notice":
            return None
        notice = response.notice
        if notice.kind == pb.NOTICE_KIND_ACCESS_REQUESTED:
            asked = client.consent.GetAccessRequest(pb.GetAccessRequestRequest(request_id=notice.subject_ref))
            return 0, "request\t" + request_line(asked.request)
        return 0, f"notice\t{_NOTICE.get(notice.kind, 'other')}\t{notice.subject_ref}"
    return line


def change_line(response: pb.WatchConsentChangesResponse) -> tuple[int, str] | None:
    """An institution's line: seq, time, what changed, the patient, the request, the consent."""
    if response.WhichOneof("event") != "change":
        return None
    c = response.change
    kind = pb.ConsentChangeKind.Name(c.kind).removeprefix("CONSENT_CHANGE_KIND_").lower().replace("_", "-")
    consent = f"{c.consent_id}@v{c.consent_version}" if c.consent_id else "-"
    return c.ledger_seq, (f"#{c.ledger_seq}\t{c.time.ToJsonString()}\t{kind}\t{c.patient_id}\t"
                          f"{c.request_id or '-'}\t{consent}")
