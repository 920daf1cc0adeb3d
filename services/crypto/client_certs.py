"""Client certificates for mutual TLS, bound to a principal's identity key (docs/transport.md).

The identity key (Ed25519, the key that signs the principal's call tokens) cannot be the TLS key
itself: grpcio's TLS stack (BoringSSL) negotiates no Ed25519 handshake signature, so such a
client certificate fails every handshake. The identity key certifies the TLS key instead. The
chain a client presents is

    leaf      a fresh ECDSA P-256 key, the one TLS uses; signed by the identity key; clientAuth
    identity  the identity public key as a one-level CA (path length 0), issued by the client CA
              for the key the operator registered; it needs no private key but the CA's
    (root)    the client CA, which the server holds (CONSENTRY_TLS_CLIENT_CA)

The handshake proves the client holds the leaf's private key and that the chain reaches the
client CA; the server then checks that the leaf was signed by the key that verified the call's
token (identity/certificate_binding.py). Only the holder of the identity key can sign a leaf, so
a token replayed from another connection, whose leaf another key signed, is refused.

Times are the caller's (`now`): issuing certificates is a client-side job.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from nacl.signing import SigningKey

IDENTITY_CERT_DAYS = 365
IDENTITY_UNIT = "consentry identity key"
CLIENT_CERT_DAYS = 30
_BACKDATE = datetime.timedelta(minutes=5)  # tolerates a server clock a little behind ours


def identity_certificate(ca_cert: x509.Certificate, ca_key: CertificateIssuerPrivateKeyTypes,
                         identity_public_key: bytes, principal: str, *, now: datetime.datetime,
                         days: int = IDENTITY_CERT_DAYS) -> x509.Certificate:
    """The client CA's certificate for a registered identity key: it may sign one level of leaves."""
    public = ed25519.Ed25519PublicKey.from_public_bytes(identity_public_key)
    subject = _name(principal, IDENTITY_UNIT)
    builder = (_builder(subject, ca_cert.subject, public, now, now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(_key_usage(cert_sign=True), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    hash_algorithm = None if isinstance(ca_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()
    return builder.sign(ca_key, hash_algorithm)


def client_certificate(identity_key: SigningKey, identity_cert: x509.Certificate, *, now: datetime.datetime,
                       days: int = CLIENT_CERT_DAYS) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A fresh TLS key and its leaf certificate, signed by the identity key (never past the
    identity certificate's own end)."""
    signer = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(identity_key))
    if identity_cert.public_key() != signer.public_key():
        raise ValueError("the identity certificate is for another key than this identity key")
    principal = identity_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    tls_key = ec.generate_private_key(ec.SECP256R1())
    until = min(now + datetime.timedelta(days=days), identity_cert.not_valid_after_utc)
    leaf = (_builder(_name(str(principal)), identity_cert.subject, tls_key.public_key(), now, until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
            .sign(signer, None))
    return leaf, tls_key


def chain_pem(leaf: x509.Certificate, identity_cert: x509.Certificate) -> bytes:
    """What a client presents: its leaf, then the identity certificate that issued it."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, identity_cert))


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(principal: str, unit: str | None = None) -> x509.Name:
    """CN = the principal; the identity certificate's name also has an OU, so that a leaf's issuer
    is never its own subject (which would read as self-issued)."""
    unit_name = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit)] if unit else []
    return x509.Name([*unit_name, x509.NameAttribute(NameOID.COMMON_NAME, principal)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey,
             start: datetime.datetime, end: datetime.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start - _BACKDATE)
            .not_valid_after(end)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=False,
                         encipher_only=False, decipher_only=False)
