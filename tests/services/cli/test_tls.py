"""TLS on the transport: with CONSENTRY_TLS_CERT/KEY the server speaks only TLS, and clients that
trust its CA (CONSENTRY_TLS_CA, or `root_certificates` in the SDK) tell the story over it."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
from pathlib import Path

import grpc
import pytest
from cli_helpers import CONSENTRY, free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from consentry.services.cli.datadir import operator_key
from consentry.services.config import Settings
from consentry.services.identity.tokens import Caller
from consentry.services.sdk.client import Client
from consentry.v1 import registry_pb2


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway CA-less certificate for 127.0.0.1, made at test time (no key in the repo)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "consentry test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path):
    cert, key = _self_signed(tmp_path)
    data = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "CONSENTRY_TLS_CERT": str(cert), "CONSENTRY_TLS_KEY": str(key)}
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen([*CONSENTRY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            target = f"127.0.0.1:{port}"
            with grpc.secure_channel(target, grpc.ssl_channel_credentials(cert.read_bytes())) as channel:
                grpc.channel_ready_future(channel).result(timeout=60)
            yield target, data, cert
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_the_story_runs_over_tls(tls_server):
    target, data, cert = tls_server
    run = subprocess.run([*CONSENTRY, "demo", "--target", target, "--data-dir", str(data)], capture_output=True,
                         text=True, timeout=180, env={**os.environ, "CONSENTRY_TLS_CA": str(cert)})
    assert run.returncode == 0, run.stdout + run.stderr


def test_plaintext_and_untrusting_clients_get_nothing(tls_server, tmp_path):
    target, data, cert = tls_server
    operator = Caller("operator", operator_key(Settings.load(data)))
    with Client(target, operator, root_certificates=cert.read_bytes()) as trusted:
        assert trusted.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).ledger_verifier_key
    (tmp_path / "other").mkdir()
    other, _ = _self_signed(tmp_path / "other")
    for client in (Client(target, operator, timeout_s=5), Client(target, operator, timeout_s=5,
                                                                 root_certificates=other.read_bytes())):
        with client, pytest.raises(grpc.RpcError) as err:
            client.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
