"""Spoofing: a caller signs with a key that is no longer its own, names a staff member it cannot
vouch for, pairs a token with a request it was not made for, or sends it over a connection whose
client certificate another key signed.

The institution's key proves the institution; the practitioner and role its token names must
then be its own registration, and on a mutual-TLS server its connection's certificate must be
signed by that same key. A refusal never repeats what the token claimed (the ledger keeps no
caller-chosen text) and is ledgered against the proven institution. Only a principal's current
key authenticates, and the key it replaced only for a short grace, never to manage keys or
staff; a token is judged on the service's clock and binds the exact bytes of its request.
"""

from __future__ import annotations

import json
import time

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from harness import Harness
from nacl.signing import SigningKey
from pki import Authority

from consentry.services import clock
from consentry.services.identity.tokens import Caller, request_hash
from consentry.v1 import consent_pb2, registry_pb2, registry_pb2_grpc

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
    claims = jwt.decode(forged.token(METHOD, b""), options={"verify_signature": False})
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
    return Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test").token(METHOD, b"")


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
    stolen = Caller("patient:" + patient.id, patient.identity).token(METHOD, b"")
    outcome = mtls_call(mtls_harness, stolen, mtls_harness.pki.client_ca.bound(org.identity, "org:" + org.id))
    refused_with(mtls_harness, outcome, CERTIFICATE_MISMATCH, mtls_harness.actor("patient:" + patient.id))


# -- keys: only the current one, and the one it replaced for a short grace -----------------------

KEY_MANAGEMENT_DETAILS = "the token's key has been replaced; managing keys and staff needs the current key"


@pytest.fixture
def frozen():
    """The server's clock, stopped now; the test moves it by assigning `frozen.now` (ns)."""

    class Frozen:
        now = time.time_ns()

    previous = clock.set_source(lambda: Frozen.now)
    try:
        yield Frozen
    finally:
        clock.set_source(previous)


def rotate_identity(org, client) -> SigningKey:
    new = SigningKey.generate()
    client.registry.RotateInstitutionKey(registry_pb2.RotateInstitutionKeyRequest(
        institution_id=org.id, type=registry_pb2.KEY_TYPE_IDENTITY, public_key=bytes(new.verify_key)))
    return new


def raw_call(harness, method: str, request, token: str, *, body: bytes | None = None):
    """Calls `method` over a bare channel with `token`, sending `body` (default: the request's own
    bytes) exactly as given; returns the response bytes or raises the call's error."""
    with grpc.insecure_channel(harness.target) as channel:
        call = channel.unary_unary(method)
        sent = request.SerializeToString() if body is None else body
        return call(sent, metadata=[("authorization", f"Bearer {token}")], timeout=30)


def unauthenticated(harness, method: str, request, token: str, **kw) -> str:
    with pytest.raises(grpc.RpcError) as err:
        raw_call(harness, method, request, token, **kw)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    return err.value.details()


def test_a_replaced_key_works_within_the_grace_but_never_manages_keys_or_staff(harness):
    org = harness.org()
    old = harness.client(Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test"))
    new = harness.client(Caller("org:" + org.id, rotate_identity(org, org.client), role="physician",
                                practitioner="dr-test"))
    harness.flush_refusals()
    assert old.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest()).ledger_origin  # a call under way
    attempts = [
        lambda: old.registry.RotateInstitutionKey(registry_pb2.RotateInstitutionKeyRequest(
            institution_id=org.id, type=registry_pb2.KEY_TYPE_IDENTITY,
            public_key=bytes(SigningKey.generate().verify_key))),
        lambda: old.registry.RevokeInstitutionKey(registry_pb2.RevokeInstitutionKeyRequest(
            institution_id=org.id, key_id=new.caller.key_id)),
        lambda: old.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
            institution_id=org.id, practitioner_id="dr-mole", roles=["physician"])),
        lambda: old.registry.RemovePractitioner(registry_pb2.RemovePractitionerRequest(
            institution_id=org.id, practitioner_id="dr-test")),
    ]
    for attempt in attempts:
        with pytest.raises(grpc.RpcError) as err:
            attempt()
        assert (err.value.code(), err.value.details()) == (grpc.StatusCode.UNAUTHENTICATED, KEY_MANAGEMENT_DETAILS)
    [summary] = harness.flush_refusals()
    assert summary["failures"] == {"retired_key": 4}
    got = new.registry.GetInstitution(registry_pb2.GetInstitutionRequest(institution_id=org.id)).institution
    identity = {k.key_id: k.status for k in got.keys if k.type == registry_pb2.KEY_TYPE_IDENTITY}
    assert identity == {old.caller.key_id: registry_pb2.KEY_STATUS_RETIRED,
                        new.caller.key_id: registry_pb2.KEY_STATUS_CURRENT}
    new.registry.RegisterPractitioner(registry_pb2.RegisterPractitionerRequest(
        institution_id=org.id, practitioner_id="dr-new", roles=["physician"]))  # the current key may


def test_after_the_grace_a_replaced_key_is_refused(harness, frozen):
    org = harness.org()
    replaced = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test")
    current = Caller("org:" + org.id, rotate_identity(org, org.client), role="physician", practitioner="dr-test")
    harness.flush_refusals()
    frozen.now += int((harness.settings.key_grace_s - 5) * 1e9)
    at = frozen.now / 1e9
    assert raw_call(harness, METHOD, registry_pb2.GetServiceKeysRequest(), replaced.token(METHOD, b"", now=at))
    frozen.now += 10 * 1_000_000_000
    at = frozen.now / 1e9
    details = unauthenticated(harness, METHOD, registry_pb2.GetServiceKeysRequest(),
                              replaced.token(METHOD, b"", now=at))
    assert details == "the token's key has been replaced; sign with the current key"
    assert raw_call(harness, METHOD, registry_pb2.GetServiceKeysRequest(), current.token(METHOD, b"", now=at))
    frozen.now = time.time_ns()  # back to the time the harness's own callers sign with
    [summary] = harness.flush_refusals()
    assert summary["failures"] == {"retired_key": 1}


def test_with_no_grace_a_replaced_key_stops_at_once(tmp_path):
    h = Harness.start(tmp_path / "data", f"sqlite:///{tmp_path / 'c.db'}", key_grace_s=0)
    try:
        org = h.org()
        replaced = h.client(Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test"))
        rotate_identity(org, org.client)
        with pytest.raises(grpc.RpcError) as err:
            replaced.registry.GetServiceKeys(registry_pb2.GetServiceKeysRequest())
        assert err.value.details() == "the token's key has been replaced; sign with the current key"
    finally:
        h.stop()


# -- token time: judged on the service's clock --------------------------------------------------

def test_expiry_is_judged_on_the_services_clock_not_the_system_time(harness, frozen):
    org = harness.org()
    caller = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test")
    harness.flush_refusals()
    frozen.now -= 3600 * 1_000_000_000  # the service's clock an hour behind the system's
    hour_ago = frozen.now / 1e9
    # Long expired by the system's time, fresh by the service's: accepted.
    assert raw_call(harness, METHOD, registry_pb2.GetServiceKeysRequest(), caller.token(METHOD, b"", now=hour_ago))
    # Fresh by the system's time, an hour in the future by the service's: refused.
    details = unauthenticated(harness, METHOD, registry_pb2.GetServiceKeysRequest(), caller.token(METHOD, b""))
    assert details == "the token was issued in the future"
    frozen.now += 2 * 3600 * 1_000_000_000  # and now an hour ahead
    details = unauthenticated(harness, METHOD, registry_pb2.GetServiceKeysRequest(), caller.token(METHOD, b""))
    assert details == "the token has expired"
    frozen.now = time.time_ns()
    summaries = harness.flush_refusals()  # one per window: the two refusals are two hours apart
    assert sorted((s["failures"] for s in summaries), key=str) == [{"expired": 1}, {"not_yet_valid": 1}]


# -- tokens bound to the request's bytes ---------------------------------------------------------

GRANT = "/consentry.v1.ConsentService/GrantConsent"


def test_a_captured_grant_token_paired_with_other_terms_is_refused_and_counted(harness):
    """Someone on the path holds the patient's token for a grant of `lab` to a clinic and sends it,
    unspent, with a grant of everything to an insurer: the token binds the bytes it was made for."""
    clinic, insurer, patient = harness.org(), harness.org(), harness.patient()
    asked = consent_pb2.GrantConsentRequest(patient_id=patient.id, grantee=clinic.id, notice=clinic.notice,
                                            terms=consent_pb2.ConsentTerms(categories=["lab"], purposes=["TREAT"]))
    swapped = consent_pb2.GrantConsentRequest(patient_id=patient.id, grantee=insurer.id, notice=insurer.notice,
                                              terms=consent_pb2.ConsentTerms(categories=["*", "mental-health"],
                                                                             purposes=["TREAT", "HPAYMT"]))
    token = patient.client.caller.token(GRANT, asked.SerializeToString())
    harness.flush_refusals()
    before = len(harness.entries())
    details = unauthenticated(harness, GRANT, asked, token, body=swapped.SerializeToString())
    assert details == "the token was issued for a different request"
    # Nothing was granted, and the refusal is in the ledger as a count of its reason.
    [summary] = harness.flush_refusals()
    assert [e["kind"] for e in harness.entries()[before:]] == ["auth.refused"]
    assert summary["failures"] == {"request_mismatch": 1} and summary["methods"] == {GRANT: 1}
    listed = patient.client.consent.ListConsents(consent_pb2.ListConsentsRequest(patient_id=patient.id))
    assert list(listed.consents) == []
    # The token was not spent on the refused call: with its own bytes it grants what was asked.
    granted = consent_pb2.GrantConsentResponse.FromString(raw_call(harness, GRANT, asked, token)).consent
    assert (granted.grantee, list(granted.categories)) == (clinic.id, ["lab"])


@pytest.mark.parametrize("claim", ["missing", "another request", "not a string"])
def test_a_token_without_this_requests_hash_is_refused(harness, claim):
    org = harness.org()
    caller = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test")
    claims = jwt.decode(caller.token(METHOD, b""), options={"verify_signature": False})
    if claim == "missing":
        del claims["req"]
    else:
        claims["req"] = request_hash(b"\x08\x01") if claim == "another request" else 42
    token = jwt.encode(claims, Ed25519PrivateKey.from_private_bytes(bytes(org.identity)), algorithm="EdDSA",
                       headers={"kid": caller.key_id})
    harness.flush_refusals()
    details = unauthenticated(harness, METHOD, registry_pb2.GetServiceKeysRequest(), token)
    assert details in ("the token carries no request hash (req)", "the token was issued for a different request")
    [summary] = harness.flush_refusals()
    assert summary["failures"] == {"request_mismatch": 1}


def test_undecodable_bytes_bound_to_their_token_are_invalid_argument_not_unauthenticated(harness):
    """The hash is of the bytes received, taken before decoding: a token for bytes that are not a
    message authenticates its caller, whose malformed request is then refused and ledgered."""
    patient = harness.patient()
    garbage = b"\x0a\xff\xff"
    token = patient.client.caller.token(GRANT, garbage)
    before = len(harness.entries())
    with pytest.raises(grpc.RpcError) as err:
        raw_call(harness, GRANT, consent_pb2.GrantConsentRequest(), token, body=garbage)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [refusal] = harness.entries()[before:]
    assert (refusal["kind"], refusal["method"], refusal["actor"]) == (
        "call.refused", GRANT, harness.actor("patient:" + patient.id))
