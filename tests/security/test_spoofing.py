"""Spoofing: an institution's token names a staff member it cannot vouch for, or travels over a
connection whose client certificate another key signed.

The institution's key proves the institution; the practitioner and role its token names must
then be its own registration, and on a mutual-TLS server its connection's certificate must be
signed by that same key. A refusal never repeats what the token claimed (the ledger keeps no
caller-chosen text) and is ledgered against the proven institution.
"""

from __future__ import annotations

import json

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.signing import SigningKey
from pki import Authority

from consentry.services.identity.tokens import Caller
from consentry.v1 import registry_pb2, registry_pb2_grpc

METHOD = "/consentry.v1.RegistryService/GetServiceKeys"


def call_as(harness, principal: str, key: SigningKey, role: str, practitioner: str) -> grpc.RpcError:
    """Calls GetServiceKeys with the token this caller signs; returns its UNAUTHENTICATED refusal."""
    client = harness.client(Caller(principal, key, role=role, practitioner=practitioner))
    with pytest.raises(grpc.RpcError) as err:
        client.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    return err.value


def refusals(harness, actor: str) -> list[dict]:
    return [e for e in harness.entries() if e["kind"] == "auth.refused" and e["actor"] == actor]


def test_a_practitioner_of_another_institution_is_not_this_ones(harness):
    hospital, clinic = harness.org(practitioner="dr-house"), harness.org(kind=registry_pb2.INSTITUTION_KIND_CLINIC)
    err = call_as(harness, "org:" + clinic.id, clinic.identity, "physician", "dr-house")
    assert err.details() == "the token's practitioner is not registered with this institution"
    [refusal] = refusals(harness, "org:" + clinic.id)
    assert refusal["method"] == METHOD and refusal["status"] == "UNAUTHENTICATED"
    assert not refusals(harness, "org:" + hospital.id)


@pytest.mark.parametrize("role", ["operator", "auditor-root9", "Physician"])
def test_a_role_outside_the_policys_vocabulary_is_refused_without_echo(harness, role):
    org = harness.org()
    err = call_as(harness, "org:" + org.id, org.identity, role, "dr-test")
    assert err.details() == "the token's role is not a staff role"
    [refusal] = refusals(harness, "org:" + org.id)
    assert refusal["reasons"] == ["the token's role is not a staff role"]
    assert role not in json.dumps(refusal)


def test_an_invented_practitioner_id_is_not_echoed_or_ledgered(harness):
    org = harness.org()
    invented = "P-SECRET-4711"  # e.g. a patient id typed where a staff id belongs
    err = call_as(harness, "org:" + org.id, org.identity, "physician", invented)
    assert invented not in err.details()
    assert len(refusals(harness, "org:" + org.id)) == 1
    assert invented not in json.dumps(harness.entries())


def test_a_token_for_a_registered_practitioner_signed_by_another_key_is_refused(harness):
    """Nothing proves who signed it, so the institution it names is never its ledgered actor (the
    call is counted into its source's summary instead; tests/security/test_denial_of_service.py)."""
    org = harness.org()
    err = call_as(harness, "org:" + org.id, SigningKey.generate(), "physician", "dr-test")
    assert err.details() == "the token's key is not registered for its principal"
    assert refusals(harness, "org:" + org.id) == []


def test_the_institution_kind_is_read_from_the_registry_not_the_token(harness):
    """A token cannot carry a kind: an insurer's claims-officer token works, its physician token
    does not, whatever else the token says."""
    insurer = harness.org(kind=registry_pb2.INSTITUTION_KIND_INSURER, role="claims-officer", practitioner="c-1")
    forged = Caller("org:" + insurer.id, insurer.identity, role="physician", practitioner="c-1")
    claims = jwt.decode(forged.token(METHOD), options={"verify_signature": False})
    claims.update(kind="hospital", institution_kind="hospital")
    token = jwt.encode(claims, Ed25519PrivateKey.from_private_bytes(bytes(insurer.identity)), algorithm="EdDSA",
                       headers={"kid": forged.key_id})
    with grpc.insecure_channel(harness.target) as channel, pytest.raises(grpc.RpcError) as err:
        registry_pb2_grpc.RegistryServiceStub(channel).GetServiceKeys(
            registry_pb2.GetServiceKeysRequest(), metadata=[("authorization", f"Bearer {token}")])
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details() == "an institution of kind insurer cannot have role physician"
    assert insurer.client.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).ledger_origin


# -- Mutual TLS: a token is good only on a connection whose certificate its own key signed ----------
# (api/transport.py, identity/certificate_binding.py; docs/transport.md)

CERTIFICATE_REQUIRED = "an institution must connect with a client certificate signed by its identity key"
CERTIFICATE_MISMATCH = "the client certificate is not signed by the token's identity key"


def mtls_call(h, token: str, credentials: tuple[bytes, bytes] | None, target: str | None = None):
    """GetServiceKeys with `token` over a connection of its own presenting `credentials`
    ((chain, key) PEM, or None for no certificate); returns the reply or the RpcError."""
    chain, key = credentials or (None, None)
    channel_credentials = grpc.ssl_channel_credentials(h.roots, key, chain)
    with grpc.secure_channel(target or h.mtls_target, channel_credentials) as channel:
        try:
            return registry_pb2_grpc.RegistryServiceStub(channel).GetServiceKeys(
                registry_pb2.GetServiceKeysRequest(), metadata=[("authorization", f"Bearer {token}")], timeout=10)
        except grpc.RpcError as err:
            return err


def org_token(org) -> str:
    return Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test").token(METHOD)


def refused_with(h, outcome, message: str, actor: str) -> None:
    """UNAUTHENTICATED with `message`, ledgered once against the principal the token proved."""
    assert isinstance(outcome, grpc.RpcError)
    assert (outcome.code(), outcome.details()) == (grpc.StatusCode.UNAUTHENTICATED, message)
    [refusal] = refusals(h, actor)
    assert (refusal["method"], refusal["status"], refusal["reasons"]) == (METHOD, "UNAUTHENTICATED", [message])


def test_an_institution_with_its_bound_certificate_is_served(mtls_harness):
    org = mtls_harness.org()
    own = mtls_harness.pki.client_ca.bound(org.identity, "org:" + org.id)
    assert mtls_call(mtls_harness, org_token(org), own).ledger_verifier_key
    assert refusals(mtls_harness, "org:" + org.id) == []


def test_an_institution_without_a_certificate_is_refused(mtls_harness):
    """The mTLS listener ends the handshake; the listener without certificates refuses the call and
    ledgers it against the institution its token proved."""
    org = mtls_harness.org()
    no_handshake = mtls_call(mtls_harness, org_token(org), None)
    assert no_handshake.code() == grpc.StatusCode.UNAVAILABLE
    refused = mtls_call(mtls_harness, org_token(org), None, target=mtls_harness.target)
    refused_with(mtls_harness, refused, CERTIFICATE_REQUIRED, "org:" + org.id)


def test_an_institution_with_a_certificate_of_another_key_is_refused(mtls_harness):
    """Another institution's genuine certificate, one certified by the client CA for the right
    name but another key, and a gateway certificate no identity key signed: none carries it."""
    org, other = mtls_harness.org(), mtls_harness.org()
    ca = mtls_harness.pki.client_ca
    for credentials in (ca.bound(other.identity, "org:" + other.id), ca.bound(SigningKey.generate(), "org:" + org.id),
                        ca.leaf("patient portal")):
        outcome = mtls_call(mtls_harness, org_token(org), credentials)
        assert (outcome.code(), outcome.details()) == (grpc.StatusCode.UNAUTHENTICATED, CERTIFICATE_MISMATCH)
    assert [r["reasons"] for r in refusals(mtls_harness, "org:" + org.id)] == [[CERTIFICATE_MISMATCH]] * 3
    assert refusals(mtls_harness, "org:" + other.id) == []


def test_a_certificate_from_another_ca_never_reaches_the_service(mtls_harness):
    """Signed by the institution's own key, but its identity certificate is not the client CA's:
    the handshake fails, so no call is made and nothing is ledgered."""
    org = mtls_harness.org()
    foreign = Authority.create("another CA").bound(org.identity, "org:" + org.id)
    mtls_harness.flush_refusals()  # what earlier calls left to summarise
    before = len(mtls_harness.entries())
    outcome = mtls_call(mtls_harness, org_token(org), foreign)
    assert outcome.code() == grpc.StatusCode.UNAVAILABLE
    assert mtls_harness.flush_refusals() == []
    assert len(mtls_harness.entries()) == before


def test_a_stolen_token_is_refused_over_the_thiefs_certificate(mtls_harness):
    """An institution's token, taken before use by another registered institution and sent over
    that one's own bound connection: refused, ledgered against the victim (whose token leaked),
    and spent, so the thief cannot try it again elsewhere."""
    victim, thief = mtls_harness.org(), mtls_harness.org()
    stolen = org_token(victim)
    thiefs = mtls_harness.pki.client_ca.bound(thief.identity, "org:" + thief.id)
    refused_with(mtls_harness, mtls_call(mtls_harness, stolen, thiefs), CERTIFICATE_MISMATCH, "org:" + victim.id)
    own = mtls_harness.pki.client_ca.bound(victim.identity, "org:" + victim.id)
    again = mtls_call(mtls_harness, stolen, own)
    assert (again.code(), again.details()) == (grpc.StatusCode.UNAUTHENTICATED,
                                               "the token has already been used (replay)")
    assert refusals(mtls_harness, "org:" + thief.id) == []
    assert mtls_call(mtls_harness, org_token(victim), own).ledger_verifier_key


def test_a_stolen_patient_token_is_refused_over_an_institutions_connection(mtls_harness):
    """A certificate an identity key signed binds its connection to that key, whoever the token's
    principal: a patient's token is not accepted over an institution's connection."""
    patient, org = mtls_harness.patient(), mtls_harness.org()
    stolen = Caller("patient:" + patient.id, patient.identity).token(METHOD)
    outcome = mtls_call(mtls_harness, stolen, mtls_harness.pki.client_ca.bound(org.identity, "org:" + org.id))
    refused_with(mtls_harness, outcome, CERTIFICATE_MISMATCH, mtls_harness.app.trail.actor("patient:" + patient.id))
