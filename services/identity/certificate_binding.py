"""A call's token and its connection's client certificate must name the same identity key.

On a mutual-TLS listener the handshake has already proven that the client holds its certificate's
private key and that the certificate chains to the client CA. A certificate whose leaf an Ed25519
key signed is *bound* to that identity key (crypto/client_certs.py issues them; docs/transport.md):
on such a connection only tokens verified with that same key are accepted, whoever their
principal, so a token taken from one principal cannot be spent over another's connection.

Institutions must connect with a certificate bound to their own key whenever the server runs
mutual TLS: theirs are the tokens that fetch patients' records. Patients, auditors and the operator
may connect without one (the listener for callers without certificates, or a portal's gateway
certificate, which no identity key signed): a patient in a browser cannot present a certificate.

Both refusals come after the token verified, so they name the principal it proved: a certificate
mismatch means that principal's token is in someone else's hands, which it should hear about.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import SignatureAlgorithmOID

from consentry.services.errors import Unauthenticated
from consentry.services.identity.principals import Principal

# The principal kinds that must present a certificate bound to their key on an mTLS server.
BOUND_KINDS = ("org",)


def check_bound(principal: Principal, identity_key: bytes, certificate: bytes | None, *, mutual_tls: bool) -> None:
    """Refuses the call unless its connection's certificate (PEM, None without one) is bound to
    `identity_key`, the key that verified the token, or is allowed to be unbound."""
    required = mutual_tls and principal.kind in BOUND_KINDS
    if certificate is None:
        if required:
            raise Unauthenticated("an institution must connect with a client certificate signed by its identity key",
                                  reason="certificate_required", proven=principal.id)
        return
    leaf = x509.load_pem_x509_certificate(certificate)
    if leaf.signature_algorithm_oid != SignatureAlgorithmOID.ED25519:
        if required:
            raise Unauthenticated("the client certificate is not signed by the token's identity key",
                                  reason="certificate_mismatch", proven=principal.id)
        return  # e.g. a portal's gateway certificate: bound to no identity key
    try:
        Ed25519PublicKey.from_public_bytes(identity_key).verify(leaf.signature, leaf.tbs_certificate_bytes)
    except InvalidSignature as exc:
        raise Unauthenticated("the client certificate is not signed by the token's identity key",
                              reason="certificate_mismatch", proven=principal.id) from exc
