"""The web front door: the server's own HTTP listener for browsers (docs/web.md).

It serves the static pages shipped in the package (`consentry.services.web`) and a gRPC-Web
endpoint (application/grpc-web+proto; unary and server-streaming calls) that forwards each call's
exact request bytes and its `authorization` header over a loopback gRPC channel to this same
server. The call then passes the guard interceptor like any other, so tokens, limits and
ledgering apply unchanged and no rule is implemented twice; the gateway only translates framing.

Plain HTTP is served on loopback addresses only: a browser grants WebCrypto to a page only in a
secure context, so anywhere else the gateway needs the server's TLS certificate.
"""

from __future__ import annotations

import base64
import logging
import select
import socket
import socketserver
import ssl
import struct
import sys
import threading
import urllib.parse
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc

from consentry.services.api.rate_limits import FORWARDED_BY, FORWARDED_PEER
from consentry.services.api.transport import ListenError, is_loopback
from consentry.services.config import MESSAGE_HEADROOM_BYTES, Settings, channel_options
from consentry.services.web import STATIC
from consentry.v1 import audit_pb2, consent_pb2, exchange_pb2, registry_pb2, rights_pb2

log = logging.getLogger("consentry.web")

GRPC_WEB_TYPES = ("application/grpc-web", "application/grpc-web+proto")
FRAME_HEADER = 5  # flag byte and 4-byte big-endian length
TRAILER_FLAG = 0x80
COMPRESSED_FLAG = 0x01
UNARY_TIMEOUT_S = 120.0
STREAM_CLOSE_POLL_S = 1.0  # how often a stream's close watcher checks that its call still runs
# Connections served at once (a thread each); the gRPC server behind bounds the calls in flight.
MAX_CONNECTIONS = 256
# Pages load scripts and styles from this origin only, run no inline script, talk to no other
# origin and cannot be framed (clickjacking a patient's approval, say).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
                ".json": "application/json", ".ico": "image/x-icon"}


def streaming_methods() -> dict[str, bool]:
    """Each of our methods' full name, and whether the server streams its responses."""
    methods: dict[str, bool] = {}
    for module in (audit_pb2, consent_pb2, exchange_pb2, registry_pb2, rights_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                methods[f"/{service.full_name}/{method.name}"] = method.server_streaming
    return methods


def check(settings: Settings, listen: str) -> None:
    """Refuses what the gateway would refuse to serve, before anything is built."""
    tls = settings.tls_cert is not None and settings.tls_key is not None
    if not tls and not is_loopback(listen):
        raise ListenError(f"refusing to serve the web front door in plain HTTP on {listen}, which is not a "
                          "loopback address: browsers allow WebCrypto only in a secure context; configure TLS "
                          "(CONSENTRY_TLS_CERT, CONSENTRY_TLS_KEY)")
    if not listen.rpartition(":")[2].isdigit():
        raise ListenError(f"--http wants HOST:PORT, not {listen!r}")


class WebGateway:
    """The HTTP listener; `url` is where a browser finds it (the real port for port 0)."""

    def __init__(self, settings: Settings, listen: str, grpc_target: str, secret: str, *,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        """Serves on `listen`, forwarding to `grpc_target` with `secret`, by which the server
        knows the browser address the gateway names (rate_limits.forwarded_peer)."""
        check(settings, listen)
        tls = settings.tls_cert is not None and settings.tls_key is not None
        host, _, port = listen.rpartition(":")
        self.channel = grpc.insecure_channel(grpc_target, options=channel_options(settings.max_body_bytes))
        handler = type("Handler", (_Handler,), {
            "channel": self.channel,
            "methods": streaming_methods(),
            "max_message": settings.max_body_bytes + MESSAGE_HEADROOM_BYTES,
            "secret": secret,
        })
        try:
            server = _HttpServer6 if ":" in host else _HttpServer
            self.http = server((host.strip("[]"), int(port)), handler, max_connections)
        except OSError as exc:
            self.channel.close()
            raise ListenError(f"cannot serve the web front door on {listen}: {exc.strerror}") from exc
        if tls:
            assert settings.tls_cert is not None and settings.tls_key is not None
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(settings.tls_cert, settings.tls_key)
            # The handshake runs in the request's own thread, so a slow client never holds accept().
            self.http.socket = context.wrap_socket(self.http.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.http.server_address[1]
        shown = host if host and host not in ("0.0.0.0", "::", "[::]") else "127.0.0.1"  # noqa: S104
        self.url = f"{'https' if tls else 'http'}://{shown}:{self.port}/"
        self._thread = threading.Thread(target=self.http.serve_forever, name="web-gateway", daemon=True)

    def start(self) -> WebGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.channel.close()


class _HttpServer(ThreadingHTTPServer):
    """One thread per connection, and at most `max_connections` of them: past that, a new
    connection is closed at once, so a flood of idle connections cannot exhaust the process."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int) -> None:
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("web front door: %d connections open; refusing more", self.max_connections)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def server_bind(self) -> None:
        """As HTTPServer binds, without its reverse DNS lookup of the address (a slow resolver
        would hold the server's start)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: object, client_address: object) -> None:
        """A browser that hangs up mid-request is routine; anything else is logged once."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError, ssl.SSLError)):
            log.debug("connection from %s ended: %s", client_address, error)
        else:
            log.exception("web request from %s failed", client_address)


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    channel: grpc.Channel
    methods: dict[str, bool]
    max_message: int
    secret: str
    protocol_version = "HTTP/1.1"
    timeout = 30  # a connection idle this long (or a body this slow) is dropped
    server_version = "consentry"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------- static pages

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/":
            self._redirect("/auditor/")
            return
        file = _static_file(path)
        if file is None:
            self._plain(HTTPStatus.NOT_FOUND, "not found")
            return
        body = file.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", STATIC_TYPES[file.suffix])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self._security_headers()
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._plain(HTTPStatus.METHOD_NOT_ALLOWED, "")

    # ------------------------------------------------------------- gRPC-Web

    def do_POST(self) -> None:
        method = urllib.parse.urlsplit(self.path).path
        if method not in self.methods:
            self._plain(HTTPStatus.NOT_FOUND, "no such method")
            return
        if self.headers.get("Content-Type", "").split(";")[0].strip() not in GRPC_WEB_TYPES:
            self._plain(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "gRPC-Web calls are application/grpc-web+proto")
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._plain(HTTPStatus.LENGTH_REQUIRED, "a gRPC-Web call states its Content-Length")
            return
        if int(length) > self.max_message + FRAME_HEADER:
            # Nothing of it is read: the connection is closed instead of drained.
            self.close_connection = True
            self._plain(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the request is larger than the service accepts")
            return
        request = _unframe(self.rfile.read(int(length)))
        if request is None:
            self._trailers_only(grpc.StatusCode.INVALID_ARGUMENT,
                                "the body is not one uncompressed gRPC-Web message frame")
            return
        metadata = [(FORWARDED_PEER, _peer(self.client_address)), (FORWARDED_BY, self.secret)]
        if self.headers.get("Authorization"):
            metadata.append(("authorization", self.headers["Authorization"]))
        if self.methods[method]:
            self._stream(method, request, metadata)
        else:
            self._unary(method, request, metadata)

    def _unary(self, method: str, request: bytes, metadata: list[tuple[str, str]]) -> None:
        call = self.channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            response, outcome = call.with_call(request, metadata=metadata, timeout=UNARY_TIMEOUT_S)
        except grpc.RpcError as error:
            self._trailers_only(error.code(), error.details() or "", error.trailing_metadata() or ())
            return
        body = _frame(0, response) + _frame(TRAILER_FLAG, _trailer_block(grpc.StatusCode.OK, "",
                                                                          outcome.trailing_metadata() or ()))
        self._grpc_web_headers(len(body))
        self.wfile.write(body)

    def _stream(self, method: str, request: bytes, metadata: list[tuple[str, str]]) -> None:
        """Responses are written as they come, the trailers last; the connection then closes,
        since HTTP/1.1 without a length ends a body only so."""
        call = self.channel.unary_stream(method, request_serializer=None, response_deserializer=None)
        responses: Iterator[bytes] = call(request, metadata=metadata)
        self.close_connection = True
        self._grpc_web_headers(None)
        answered = threading.Event()
        threading.Thread(target=_cancel_when_closed, args=(self.connection, responses, answered),
                         name="web-stream-close", daemon=True).start()
        try:
            for response in responses:
                self.wfile.write(_frame(0, response))
                self.wfile.flush()
            trailer = _trailer_block(grpc.StatusCode.OK, "", responses.trailing_metadata() or ())  # type: ignore[attr-defined]
        except grpc.RpcError as error:
            trailer = _trailer_block(error.code(), error.details() or "", error.trailing_metadata() or ())
        except OSError:  # the browser went away; stop the call it asked for
            responses.cancel()  # type: ignore[attr-defined]
            return
        finally:
            answered.set()
        self.wfile.write(_frame(TRAILER_FLAG, trailer))

    def _trailers_only(self, code: grpc.StatusCode, message: str,
                       trailing: Iterable[tuple[str, str | bytes]] = ()) -> None:
        body = _frame(TRAILER_FLAG, _trailer_block(code, message, trailing))
        self._grpc_web_headers(len(body))
        self.wfile.write(body)

    def _grpc_web_headers(self, length: int | None) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/grpc-web+proto")
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
        self.send_header("Cache-Control", "no-store")
        self._security_headers()
        self.end_headers()

    # ------------------------------------------------------------- plumbing

    def _plain(self, status: HTTPStatus, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self._security_headers()
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, where: str) -> None:
        self.send_response(HTTPStatus.FOUND)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self._security_headers()
        self.end_headers()

    def _security_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)


def _cancel_when_closed(connection: socket.socket, call: Any, answered: threading.Event) -> None:
    """Stops a stream's call as soon as the browser closes its connection.

    A quiet stream (a live watch between heartbeats) writes nothing for a while, so a write would
    find the browser gone only then, and the watch would hold its place in the server's caps
    until it did. A browser sends nothing more on a connection whose request was read (it does
    not pipeline), so the connection turning readable means it was closed, or misused: either
    way the call ends."""
    while not answered.is_set():
        try:
            readable, _, _ = select.select([connection], [], [], STREAM_CLOSE_POLL_S)
        except (OSError, ValueError):  # the handler closed the connection: the call is over
            return
        if readable and not answered.is_set():
            call.cancel()
            return


def _static_file(path: str) -> Path | None:
    """The shipped file a URL path names: a directory means its index.html; nothing outside the
    static directory, and only the types listed."""
    relative = urllib.parse.unquote(path).lstrip("/")
    if path.endswith("/"):
        relative += "index.html"
    root = STATIC.resolve()
    file = (root / relative).resolve()
    if not file.is_relative_to(root) or not file.is_file() or file.suffix not in STATIC_TYPES:
        return None
    return file


def _peer(client_address: tuple) -> str:
    """The browser's address written as gRPC writes a peer ("ipv4:…:port", "ipv6:[…]:port")."""
    host, port = client_address[0], client_address[1]
    if host.startswith("::ffff:") and "." in host:
        host = host.removeprefix("::ffff:")
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


def _unframe(body: bytes) -> bytes | None:
    """The one uncompressed message a unary or server-streaming request carries."""
    if len(body) < FRAME_HEADER:
        return None
    flag, length = struct.unpack(">BI", body[:FRAME_HEADER])
    if flag != 0 or length != len(body) - FRAME_HEADER:
        return None
    return body[FRAME_HEADER:]


def _frame(flag: int, payload: bytes) -> bytes:
    return struct.pack(">BI", flag, len(payload)) + payload


def _trailer_block(code: grpc.StatusCode, message: str, trailing: Iterable[tuple[str, str | bytes]]) -> bytes:
    """The gRPC-Web trailer frame's payload: HTTP/1-style header lines, binary values in base64
    (google.rpc.Status details travel as grpc-status-details-bin)."""
    lines = [f"grpc-status: {code.value[0]}", f"grpc-message: {urllib.parse.quote(message, safe=' ')}"]
    for key, value in trailing:
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n").encode()

