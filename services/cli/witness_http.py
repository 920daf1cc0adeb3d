"""The witness's HTTP face (C2SP tlog-witness): a standard-library threading HTTP server.

    POST /add-checkpoint           -> 200 cosignature line(s) | 409 (text/x.tlog.size) | 400/403/404/422
    GET  /<sha256(origin)>/checkpoint -> 200 the last cosigned checkpoint | 404

HTTP/1.1 with keep-alive, as the specification recommends. Every refusal is one line of text;
each request is logged in one line (status, path, and for a refusal its reason).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from consentry.ledger import SIZE_CONTENT_TYPE, LedgerError, OldSizeConflict, Witness, WitnessError, format_size

log = logging.getLogger("consentry.witness")

MAX_REQUEST_BYTES = 64 * 1024  # a checkpoint, 63 proof lines and a few signatures fit many times over
TEXT = "text/plain; charset=utf-8"


class WitnessHTTPServer(ThreadingHTTPServer):
    """Serves ``witness`` on ``address`` (port 0 picks a free port)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        self.witness = witness
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: WitnessHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a connection may sit idle or trickle a request before it is closed

    def do_POST(self) -> None:  # the name http.server calls
        if self.path != "/add-checkpoint":
            self._answer(HTTPStatus.NOT_FOUND, b"no such endpoint\n")
            return
        body = self._body()
        if body is None:
            return
        try:
            lines = self.server.witness.add_checkpoint(body)
        except OldSizeConflict as conflict:
            self._answer(HTTPStatus.CONFLICT, format_size(conflict.size), SIZE_CONTENT_TYPE)
        except WitnessError as refusal:
            self._answer(HTTPStatus(refusal.status), _line(refusal))
        except LedgerError as exc:  # e.g. an unreadable state file: nothing was cosigned
            log.error("add-checkpoint failed: %s", exc)
            self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, b"the witness could not read its state\n")
        else:
            self._answer(HTTPStatus.OK, lines.encode("utf-8"))

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        note = self.server.witness.cosigned(parts[0]) if len(parts) == 2 and parts[1] == "checkpoint" else None
        if note is None:
            self._answer(HTTPStatus.NOT_FOUND, b"no checkpoint cosigned for that origin\n")
        else:
            self._answer(HTTPStatus.OK, note.encode("utf-8"))

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._answer(HTTPStatus.LENGTH_REQUIRED, b"a Content-Length is required\n")
            return None
        if int(length) > MAX_REQUEST_BYTES:
            self.close_connection = True  # the unread body must not be taken for the next request
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"the request is too large\n")
            return None
        return self.rfile.read(int(length))

    def _answer(self, status: HTTPStatus, body: bytes, content_type: str = TEXT) -> None:
        # send_response logs the request: the refusal's reason must be known by then.
        self._reason = body.decode("utf-8", errors="replace").strip() if status >= 400 else ""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        reason = getattr(self, "_reason", "")
        log.info("%s %s %s%s", code, self.command, self.path[:80], f": {reason}" if reason else "")
        self._reason = ""

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s", format % args)


def _line(refusal: WitnessError) -> bytes:
    return (str(refusal).replace("\n", " ")[:500] + "\n").encode("utf-8")
