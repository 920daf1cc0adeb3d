"""Every call is authenticated by one interceptor: a per-call token, signed by a registered key,
bound to the method, short-lived and single-use. Refusals are UNAUTHENTICATED and ledgered as
counts per source and window."""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.signing import SigningKey

from consentry.services import clock
from consentry.services.identity import token_uses
from consentry.services.identity.tokens import Caller, identity_key_id, request_hash
from consentry.v1 import registry_pb2, registry_pb2_grpc

METHOD = "/consentry.v1.RegistryService/GetServiceKeys"


def call_with(harness, token: str | None):
    channel = grpc.insecure_channel(harness.target)
    try:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        metadata = [("authorization", f"Bearer {token}")] if token is not None else []
        return stub.GetServiceKeys(registry_pb2.GetServiceKeysRequest(), metadata=metadata)
    finally:
        channel.close()


def refused(harness, token: str | None) -> str:
    with pytest.raises(grpc.RpcError) as err:
        call_with(harness, token)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    return err.value.details()


def test_a_fresh_token_from_a_registered_key_is_accepted(harness):
    org = harness.org()
    caller = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test")
    assert call_with(harness, caller.token(METHOD, b"")).ledger_verifier_key


def test_no_token(harness):
    assert "authorization" in refused(harness, None)


def test_garbage_token(harness):
    assert "well-formed" in refused(harness, "not-a-jwt")


def test_token_signed_by_another_key_for_a_known_principal(harness):
    org = harness.org()
    forged = Caller("org:" + org.id, SigningKey.generate(), role="physician", practitioner="dr-test")
    assert "not registered" in refused(harness, forged.token(METHOD, b""))


def test_token_with_a_registered_key_id_but_a_bad_signature(harness):
    org = harness.org()
    good = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test").token(METHOD, b"")
    head, body, sig = good.split(".")
    tampered = f"{head}.{body}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
    assert "invalid" in refused(harness, tampered)


def test_unknown_principal(harness):
    stranger = Caller("org:nobody-here", SigningKey.generate(), role="physician", practitioner="dr-test")
    assert "not registered" in refused(harness, stranger.token(METHOD, b""))


def test_expired_token(harness):
    org = harness.org()
    caller = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test")
    assert "expired" in refused(harness, caller.token(METHOD, b"", lifetime_s=60, now=time.time() - 600))


def test_token_living_longer_than_five_minutes(harness):
    org = harness.org()
    caller = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test")
    assert "300 seconds" in refused(harness, caller.token(METHOD, b"", lifetime_s=301))


def test_token_for_another_method(harness):
    org = harness.org()
    caller = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test")
    other = "/consentry.v1.RegistryService/ListInstitutions"
    assert "different method" in refused(harness, caller.token(other, b""))


def test_replayed_token(harness):
    org = harness.org()
    token = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test").token(METHOD, b"")
    call_with(harness, token)
    assert "replay" in refused(harness, token)


def test_institution_token_must_name_role_and_practitioner(harness):
    org = harness.org()
    assert "staff role" in refused(harness, Caller("org:" + org.id, org.identity).token(METHOD, b""))


def test_revoked_key_is_refused(harness):
    org = harness.org()
    spare = SigningKey.generate()
    harness.operator.registry.RotateInstitutionKey(registry_pb2.RotateInstitutionKeyRequest(
        institution_id=org.id, type=registry_pb2.KEY_TYPE_IDENTITY, public_key=bytes(spare.verify_key)))
    old = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test")
    assert call_with(harness, old.token(METHOD, b""))  # rotated, not revoked: still valid
    harness.operator.registry.RevokeInstitutionKey(registry_pb2.RevokeInstitutionKeyRequest(
        institution_id=org.id, key_id=old.key_id, reason="laptop stolen"))
    assert "revoked" in refused(harness, old.token(METHOD, b""))
    new = Caller("org:" + org.id, spare, role="physician", practitioner="dr-test")
    assert call_with(harness, new.token(METHOD, b""))


def test_refusals_are_counted_by_kind_never_with_the_claimed_identity(harness):
    """Nothing an unauthenticated call claims is proven: the ledger counts refusals per source,
    window and reason, and names no one (here: not the patient id the forged token claimed)."""
    harness.flush_refusals()
    org = harness.org()
    stranger = Caller("patient:P-SECRET-123", SigningKey.generate())
    refused(harness, stranger.token(METHOD, b""))
    refused(harness, None)
    refused(harness, "not-a-jwt")
    refused(harness, Caller("org:" + org.id, org.identity, role="physician", practitioner="x").token(
        METHOD, b"", lifetime_s=60, now=time.time() - 600))
    [summary] = harness.flush_refusals()
    assert summary["kind"] == "auth.refused" and summary["actor"] == "anonymous"
    assert summary["source"] == "ipv4:127.0.0.1"
    assert summary["count"] == 4 and summary["methods"] == {METHOD: 4}
    assert summary["failures"] == {"unknown_key": 1, "no_token": 1, "malformed_token": 1, "expired": 1}
    assert "P-SECRET-123" not in str(harness.entries())


def test_a_token_for_a_list_of_methods_is_refused(harness):
    """`aud` must be the one method: a list naming several would make one token good for each."""
    org = harness.org()
    now = int(time.time())
    claims = {"iss": "org:" + org.id, "aud": [METHOD, "/consentry.v1.RegistryService/ListInstitutions"],
              "iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(18), "role": "physician",
              "practitioner": "dr-a", "req": request_hash(b"")}
    private = Ed25519PrivateKey.from_private_bytes(bytes(org.identity))
    kid = identity_key_id(bytes(org.identity.verify_key))
    token = jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": kid})
    assert "different method" in refused(harness, token)
    [summary] = harness.flush_refusals()
    assert summary["failures"] == {"wrong_method": 1}


def test_health_and_reflection_need_no_token(harness):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(harness.target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for s in next(replies).list_services_response.service}
    assert {"consentry.v1.ExchangeService", "consentry.v1.ConsentService", "consentry.v1.RegistryService",
            "consentry.v1.AuditService"} <= names


def test_token_uses_are_pruned_by_the_databases_clock_not_the_replicas(harness):
    """A replica whose clock runs ten hours ahead (or behind) prunes exactly what any other does:
    the uses of tokens that expired, by the database's clock, more than the margin ago."""
    now = time.time_ns()
    hour = 3600 * 1_000_000_000
    rows = {"long-expired-token-id": now - hour, "still-fresh-token-id": now + 60 * 1_000_000_000,
            "just-expired-token-id": now - 10 * 1_000_000_000}
    for skew in (10 * hour, -10 * hour):
        harness.sql("DELETE FROM token_uses WHERE jti LIKE '%-token-id'")
        for jti, expires in rows.items():
            harness.sql("INSERT INTO token_uses (principal, jti, expires_ns) VALUES ('operator', :jti, :e)",
                        jti=jti, e=expires)
        previous = clock.set_source(lambda skew=skew: time.time_ns() + skew)
        try:
            with harness.app.db.write() as session:
                token_uses.prune(session)
        finally:
            clock.set_source(previous)
        left = {r.jti for r in harness.sql("SELECT jti FROM token_uses WHERE jti LIKE '%-token-id'")}
        assert {"still-fresh-token-id", "just-expired-token-id"} <= left  # within the margin: kept
        assert "long-expired-token-id" not in left


REGISTER = "/consentry.v1.RegistryService/RegisterPractitioner"


def test_a_token_sent_many_times_at_once_writes_once(harness):
    """The token's use is written with the call's own write: copies racing each other reach the
    handler together, and all but one are refused with nothing of theirs written."""
    org = harness.org()
    request = registry_pb2.RegisterPractitionerRequest(
        institution_id=org.id, practitioner_id="dr-racing", roles=["nurse"]).SerializeToString()
    token = Caller("operator", harness.operator_identity).token(REGISTER, request)
    before = len(harness.entries())
    start = threading.Barrier(8)

    def send(_: int) -> tuple[grpc.StatusCode, str]:
        with grpc.insecure_channel(harness.target) as channel:
            call = channel.unary_unary(REGISTER)
            start.wait()
            try:
                call(request, metadata=[("authorization", f"Bearer {token}")])
                return grpc.StatusCode.OK, ""
            except grpc.RpcError as err:
                return err.code(), err.details()

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(send, range(8)))
    assert [code for code, _ in outcomes].count(grpc.StatusCode.OK) == 1
    assert [o for o in outcomes if o[0] != grpc.StatusCode.OK] == [
        (grpc.StatusCode.UNAUTHENTICATED, "the token has already been used (replay)")] * 7
    written = [e for e in harness.entries()[before:] if e["kind"] == "practitioner.registered"]
    assert len(written) == 1
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert harness.sql("SELECT count(*) AS n FROM token_uses WHERE principal = 'operator' AND jti = :jti",
                       jti=jti)[0].n == 1


def test_a_read_answers_once_per_token(harness):
    """A call that writes nothing spends its token before it answers: a copy is refused."""
    org = harness.org()
    token = Caller("org:" + org.id, org.identity, role="physician", practitioner="dr-test").token(METHOD, b"")
    start = threading.Barrier(6)

    def send(_: int) -> str:
        start.wait()
        try:
            call_with(harness, token)
            return "answered"
        except grpc.RpcError as err:
            return f"{err.code().name}: {err.details()}"

    with ThreadPoolExecutor(6) as pool:
        outcomes = sorted(pool.map(send, range(6)))
    assert outcomes == ["UNAUTHENTICATED: the token has already been used (replay)"] * 5 + ["answered"]
