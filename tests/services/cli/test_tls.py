"""The transport as `consentry serve` and the client commands use it, in real processes: TLS with
CONSENTRY_TLS_CERT/KEY (clients trust its CA through CONSENTRY_TLS_CA, or `root_certificates` in
the SDK); mutual TLS with CONSENTRY_TLS_CLIENT_CA and certificates made by `consentry tls`;
plaintext only on loopback unless allowed; a port in use refused in one line; and a start-up
line that names the mode."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from cli_helpers import CONSENTRY, free_port, run
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pki import Pki

from consentry.services.cli.datadir import operator_key
from consentry.services.config import Settings
from consentry.services.crypto import client_certs, keyfiles
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
        proc = subprocess.Popen([*CONSENTRY, "serve", "--init",
                                 "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
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


def startup_line(log: Path, timeout_s: float = 30) -> str:
    """The server's start-up line, once it has written it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = [line for line in log.read_text().splitlines() if line.startswith("consentry serving")]
        if lines:
            return lines[0]
        time.sleep(0.1)
    raise AssertionError(f"no start-up line in {log}: {log.read_text()}")


def test_the_startup_line_names_plaintext(served, tmp_path):
    target, data, _proc = served
    assert startup_line(tmp_path / "serve.log") == f"consentry serving plaintext on {target} (data: {data})"


def test_the_startup_line_names_tls(tls_server, tmp_path):
    target, data, _cert = tls_server
    assert startup_line(tmp_path / "serve.log") == f"consentry serving TLS on {target} (data: {data})"


def test_plaintext_off_loopback_needs_the_explicit_flag(tmp_path):
    data, port = tmp_path / "data", free_port()
    refused = run("serve", "--listen", f"0.0.0.0:{port}", "--data-dir", str(data), timeout=60)
    assert refused.returncode == 1
    assert (refused.stdout + refused.stderr).splitlines() == [
        f"consentry serve: refusing to listen in plaintext on 0.0.0.0:{port}, which is not a loopback address: "
        "configure TLS (CONSENTRY_TLS_CERT, CONSENTRY_TLS_KEY) or pass --insecure-plaintext"]
    assert not data.exists()  # refused before anything was created

    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen([*CONSENTRY, "serve", "--init",
                                 "--listen", f"0.0.0.0:{port}", "--data-dir", str(data),
                                 "--insecure-plaintext"], stdout=log, stderr=subprocess.STDOUT)
        try:
            line = startup_line(tmp_path / "serve.log", timeout_s=60)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert line == f"consentry serving plaintext on 0.0.0.0:{port} (data: {data})"


def test_a_second_server_on_a_port_in_use_fails_in_one_line(served, tmp_path):
    target, _data, first = served
    second = run("serve", "--listen", target, "--data-dir", str(tmp_path / "other"), timeout=60)
    assert second.returncode == 1
    assert (second.stdout + second.stderr).splitlines() == [
        f"consentry serve: cannot listen on {target}: the address is already in use"]
    assert first.poll() is None
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)


@pytest.fixture
def mtls_server(tmp_path):
    """`consentry serve` in mTLS mode, with a listener without client certificates:
    (mTLS target, target without certificates, data directory, pki)."""
    pki = Pki.create(tmp_path / "pki")
    data, port, port_without = tmp_path / "data", free_port(), free_port()
    env = {**os.environ, "CONSENTRY_TLS_CERT": str(pki.server_cert), "CONSENTRY_TLS_KEY": str(pki.server_key),
           "CONSENTRY_TLS_CLIENT_CA": str(pki.client_ca_file)}
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen([*CONSENTRY, "serve", "--init",
                                 "--listen", f"127.0.0.1:{port}", "--data-dir", str(data),
                                 "--listen-without-client-cert", f"127.0.0.1:{port_without}"],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            without = f"127.0.0.1:{port_without}"
            with grpc.secure_channel(without, grpc.ssl_channel_credentials(pki.server_ca.pem)) as channel:
                grpc.channel_ready_future(channel).result(timeout=60)
            yield f"127.0.0.1:{port}", without, data, pki
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_an_institution_works_over_mtls_with_a_certificate_from_consentry_tls(mtls_server, tmp_path):
    """The CA certifies the registered key, the institution makes its certificate, and its client
    commands work over the mTLS listener (certificate from the environment or from flags)."""
    target, without, data, pki = mtls_server
    assert startup_line(tmp_path / "serve.log") == (
        f"consentry serving mTLS on {target} and TLS without client certificates on {without} (data: {data})")
    files = {name: str(tmp_path / name) for name in ("riverside.key", "identity.crt", "tls.crt", "tls.key", "ca.key")}
    identity = keyfiles.generate_signing_key(files["riverside.key"])
    operator = Caller("operator", operator_key(Settings.load(data)))
    with Client(without, operator, root_certificates=pki.server_ca.pem) as client:
        client.registry.RegisterInstitution(registry_pb2.RegisterInstitutionRequest(
            institution_id="riverside", display_name="Riverside", kind=registry_pb2.INSTITUTION_KIND_HOSPITAL,
            identity_public_key=bytes(identity.verify_key), encryption_public_key=bytes(32 * [9])))
        client.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
            institution_id="riverside", practitioner_id="dr-a", roles=["physician"]))
    Path(files["ca.key"]).write_bytes(client_certs.private_key_pem(pki.client_ca.key))

    public_key = base64.b64encode(bytes(identity.verify_key)).decode()
    certified = run("tls", "identity-cert", "--ca-cert", str(pki.client_ca_file), "--ca-key", files["ca.key"],
                    "--principal", "org:riverside", "--public-key", public_key, "--out", files["identity.crt"])
    assert certified.returncode == 0, certified.stderr
    make_cert = ["tls", "client-cert", "--identity", files["riverside.key"], "--identity-cert", files["identity.crt"],
                 "--out-cert", files["tls.crt"], "--out-key", files["tls.key"]]
    made = run(*make_cert)
    assert made.returncode == 0, made.stderr
    assert Path(files["tls.key"]).stat().st_mode & 0o777 == 0o600

    as_institution = ["org", "practitioners", "list", "--institution", "riverside", "--identity",
                      files["riverside.key"], "--principal", "org:riverside", "--acting-practitioner", "dr-a",
                      "--acting-role", "physician"]
    env = {"CONSENTRY_TLS_CA": str(pki.server_ca_file)}
    certificate_env = {"CONSENTRY_TLS_CLIENT_CERT": files["tls.crt"], "CONSENTRY_TLS_CLIENT_KEY": files["tls.key"]}
    from_env = run(*as_institution, "--target", target, env={**env, **certificate_env})
    assert (from_env.returncode, from_env.stdout) == (0, "dr-a\tphysician\n"), from_env.stderr
    from_flags = run(*as_institution, "--target", target, "--tls-client-cert", files["tls.crt"],
                     "--tls-client-key", files["tls.key"], env=env)
    assert (from_flags.returncode, from_flags.stdout) == (0, "dr-a\tphysician\n"), from_flags.stderr

    refused = run(*as_institution, "--target", without, env=env)
    assert (refused.returncode, refused.stderr) == (1, "consentry org: UNAUTHENTICATED: an institution must "
                                                       "connect with a client certificate signed by its identity key\n")
    again = run(*make_cert)  # a key is never replaced
    assert (again.returncode, again.stderr) == (1, f"consentry tls: cannot create {files['tls.key']}: File exists\n")
