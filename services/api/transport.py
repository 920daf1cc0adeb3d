"""How the server listens: plaintext, TLS or mutual TLS (docs/transport.md).

    plaintext  no certificate configured; only on a loopback address unless the operator says
               so explicitly (settings.insecure_plaintext, `serve --insecure-plaintext`)
    TLS        CONSENTRY_TLS_CERT and CONSENTRY_TLS_KEY: the server proves itself, callers prove
               themselves with their tokens
    mTLS       and CONSENTRY_TLS_CLIENT_CA: every connection to the main listener presents a client
               certificate chaining to that CA, and an institution's must be bound to its identity
               key (identity/certificate_binding.py). grpcio can require a client certificate or
               not ask for one, never ask and accept none, so callers that cannot present one
               (patients in a browser) get a listener of their own: TLS without client
               certificates, where institutions are refused.

Every address is bound without SO_REUSEPORT: a second server on a port already in use fails to
start instead of sharing the port and splitting the calls between two deployments. The workers
of `serve --workers N` are the one exception: they share their port with each other, and only
after their parent has seen the port free (cli/workers.py).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

import grpc

from consentry.services.config import Settings

PLAINTEXT, TLS, MTLS = "plaintext", "TLS", "mTLS"
# gRPC sets SO_REUSEPORT on every listening socket unless told not to.
SERVER_OPTIONS = [("grpc.so_reuseport", 0)]
WORKER_OPTIONS = [("grpc.so_reuseport", 1)]


class ListenError(Exception):
    """The server cannot listen as configured; the message says what to change."""


@dataclass(frozen=True)
class Listener:
    mode: str
    address: str  # as configured, e.g. "0.0.0.0:50051"
    port: int  # as bound (the real one for port 0)
    without_client_cert: bool = False  # the mTLS server's listener for callers without one

    def __str__(self) -> str:
        """As the start-up line names it, e.g. "mTLS on 0.0.0.0:50051"."""
        host = self.address.rsplit(":", 1)[0]
        return f"{self.mode}{' without client certificates' if self.without_client_cert else ''} on {host}:{self.port}"


def mode(settings: Settings) -> str:
    """The main listener's mode; refuses a half-configured TLS rather than guess."""
    cert, key, client_ca = settings.tls_cert, settings.tls_key, settings.tls_client_ca
    if (cert is None) != (key is None):
        raise ListenError("TLS needs both a certificate and a key (CONSENTRY_TLS_CERT, CONSENTRY_TLS_KEY)")
    if cert is None:
        if client_ca is not None:
            raise ListenError("CONSENTRY_TLS_CLIENT_CA needs the server's own CONSENTRY_TLS_CERT and CONSENTRY_TLS_KEY")
        return PLAINTEXT
    return MTLS if client_ca is not None else TLS


def check(settings: Settings, listen: str, listen_without_client_cert: str | None = None, *,
          shared: bool = False) -> None:
    """Everything `bind` would refuse, checked before the server is built: the modes, plaintext
    off loopback, and addresses another process already holds (unless `shared`: a worker's
    siblings hold them)."""
    main = mode(settings)
    if listen_without_client_cert is not None and main != MTLS:
        raise ListenError("a listener without client certificates is for an mTLS server (CONSENTRY_TLS_CLIENT_CA)")
    if main == PLAINTEXT and not settings.insecure_plaintext and not is_loopback(listen):
        raise ListenError(f"refusing to listen in plaintext on {listen}, which is not a loopback address: "
                          "configure TLS (CONSENTRY_TLS_CERT, CONSENTRY_TLS_KEY) or pass --insecure-plaintext")
    if shared:
        return
    for address in (listen, listen_without_client_cert):
        if address is not None and _in_use(address):
            raise ListenError(f"cannot listen on {address}: the address is already in use")


def bind(server: grpc.Server, settings: Settings, listen: str,
         listen_without_client_cert: str | None = None, *, shared: bool = False) -> list[Listener]:
    """Adds the listeners to a server made with SERVER_OPTIONS (WORKER_OPTIONS when `shared`);
    the main one comes first."""
    check(settings, listen, listen_without_client_cert, shared=shared)
    main = mode(settings)
    listeners = [Listener(main, listen, _add_port(server, listen, _credentials(settings, main)))]
    if listen_without_client_cert is not None:
        port = _add_port(server, listen_without_client_cert, _credentials(settings, TLS))
        listeners.append(Listener(TLS, listen_without_client_cert, port, without_client_cert=True))
    return listeners


def is_loopback(address: str) -> bool:
    """Whether HOST:PORT (or a unix socket) can only be reached from this machine. A host name
    other than localhost could resolve anywhere, so it is not loopback."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _credentials(settings: Settings, mode: str) -> grpc.ServerCredentials | None:
    if mode == PLAINTEXT:
        return None
    assert settings.tls_cert is not None and settings.tls_key is not None  # mode() saw both
    pair = [(_read(settings.tls_key), _read(settings.tls_cert))]
    if mode == TLS:
        return grpc.ssl_server_credentials(pair)
    assert settings.tls_client_ca is not None
    return grpc.ssl_server_credentials(pair, root_certificates=_read(settings.tls_client_ca), require_client_auth=True)


def _add_port(server: grpc.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    try:
        port = server.add_insecure_port(address) if credentials is None else server.add_secure_port(address,
                                                                                                     credentials)
    except RuntimeError as exc:  # gRPC's "Failed to bind": in use (a race with `check`) or not permitted
        raise ListenError(f"cannot listen on {address}: in use, not permitted or not an address here") from exc
    if port == 0:
        raise ListenError(f"cannot listen on {address}")
    return port


def _in_use(address: str) -> bool:
    """Whether another socket holds HOST:PORT: binds it the way gRPC will (SO_REUSEADDR, no
    SO_REUSEPORT) and lets go. gRPC's own bind stays the authority; this only lets a taken port
    be reported in one line, before the server is built."""
    if address.startswith(("unix:", "unix-abstract:")):
        return False
    host, _, port = address.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        return False
    try:
        found = socket.getaddrinfo(host.strip("[]") or None, int(port), type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # gRPC's bind reports it
    for family, kind, proto, _, where in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(where)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
    return False


def concrete(address: str) -> str:
    """HOST:PORT with port 0 replaced by a port free now, so that several processes can bind the
    same one; any other address unchanged."""
    host, _, port = address.rpartition(":")
    if address.startswith(("unix:", "unix-abstract:")) or port != "0":
        return address
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]"), 0))
        return f"{host}:{probe.getsockname()[1]}"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ListenError(f"cannot read {path}: {exc.strerror}") from exc
