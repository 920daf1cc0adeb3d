"""Spoofing: an institution's token names a staff member it cannot vouch for.

The institution's key proves the institution; the practitioner and role its token names must
then be its own registration. A refusal never repeats what the token claimed (the ledger keeps
no caller-chosen text) and is ledgered against the proven institution.
"""

from __future__ import annotations

import json

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.signing import SigningKey

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
