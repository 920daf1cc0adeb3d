"""Throwaway certificate authorities for the transport tests, made at test time: no private key
is ever in the repository. A server CA signs the server's certificate for 127.0.0.1; a client CA
is the one an mTLS server trusts (CONSENTRY_TLS_CLIENT_CA) and certifies identity keys."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from nacl.signing import SigningKey

from consentry.services.crypto import client_certs


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(_now() - datetime.timedelta(minutes=5))
                .not_valid_after(_now() + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    @property
    def pem(self) -> bytes:
        return _pem(self.cert)

    def leaf(self, name: str, *, server: bool = False) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) of a plain leaf it signs: the server's for 127.0.0.1, or a
        client certificate bound to no identity key (as a portal's gateway would hold)."""
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(_now() - datetime.timedelta(minutes=5))
                   .not_valid_after(_now() + datetime.timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return _pem(builder.sign(self.key, hashes.SHA256())), client_certs.private_key_pem(key)

    def identity_cert(self, identity: SigningKey, principal: str) -> x509.Certificate:
        return client_certs.identity_certificate(self.cert, self.key, bytes(identity.verify_key), principal,
                                                 now=_now())

    def bound(self, identity: SigningKey, principal: str) -> tuple[bytes, bytes]:
        """(chain PEM, key PEM) of a client certificate signed by `identity`, certified by this CA."""
        certified = self.identity_cert(identity, principal)
        leaf, key = client_certs.client_certificate(identity, certified, now=_now())
        return client_certs.chain_pem(leaf, certified), client_certs.private_key_pem(key)


@dataclass(frozen=True)
class Pki:
    """The server's certificate and the client CA, as files in `directory`."""

    server_ca: Authority
    client_ca: Authority
    server_cert: Path
    server_key: Path
    client_ca_file: Path
    server_ca_file: Path  # what clients trust (CONSENTRY_TLS_CA)

    @classmethod
    def create(cls, directory: Path) -> Pki:
        directory.mkdir(parents=True, exist_ok=True)
        server_ca = Authority.create("consentry test server CA")
        client_ca = Authority.create("consentry test client CA")
        cert, key = server_ca.leaf("consentry test server", server=True)
        paths = (directory / "server.crt", directory / "server.key", directory / "client-ca.crt",
                 directory / "server-ca.crt")
        for path, content in zip(paths, (cert, key, client_ca.pem, server_ca.pem), strict=True):
            path.write_bytes(content)
        paths[1].chmod(0o600)
        return cls(server_ca, client_ca, *paths)

    def server_settings(self, *, mutual: bool = True) -> dict[str, Path]:
        """Settings overrides for a TLS server, mutual unless told otherwise."""
        tls = {"tls_cert": self.server_cert, "tls_key": self.server_key}
        return {**tls, "tls_client_ca": self.client_ca_file} if mutual else tls
