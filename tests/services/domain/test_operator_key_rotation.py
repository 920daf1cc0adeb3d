"""Rotating the operator's key under a running server: the new key authenticates at once, a call
the old key signed before the rotation only within the key grace, the rotation is ledgered, and
the old private key is gone."""

from __future__ import annotations

import grpc
import pytest
from backends import BACKENDS, database
from harness import Harness
from nacl.signing import SigningKey

from consentry.services import config as cfg
from consentry.services.cli.datadir import operator_key
from consentry.services.domain.enrolment import add_key
from consentry.services.domain.operator_key import revoke_operator_key, rotate_operator_key
from consentry.services.errors import FailedPrecondition, NotFound
from consentry.services.identity.tokens import Caller, identity_key_id
from consentry.v1 import registry_pb2, registry_pb2_grpc

ENROLL_AUDITOR = "/consentry.v1.RegistryService/EnrollAuditor"


@pytest.fixture(params=BACKENDS)
def server(request, tmp_path):
    """A server of the test's own: a rotation changes the operator every other test relies on."""
    with database(request.param, tmp_path) as url:
        h = Harness.start(tmp_path / "data", url)
        try:
            yield h
        finally:
            h.stop()


def _auditor(auditor_id: str) -> registry_pb2.EnrollAuditorRequest:
    return registry_pb2.EnrollAuditorRequest(auditor_id=auditor_id,
                                             identity_public_key=bytes(SigningKey.generate().verify_key))


def _send_signed_earlier(h: Harness, request: registry_pb2.EnrollAuditorRequest, token: str) -> None:
    """A call whose token was signed before the rotation and arrives after it."""
    with grpc.insecure_channel(h.target) as channel:
        registry_pb2_grpc.RegistryServiceStub(channel).EnrollAuditor(
            request, metadata=[("authorization", f"Bearer {token}")], timeout=10)


def test_the_new_operator_key_works_at_once_and_a_call_under_way_passes_within_the_grace(server):
    app = server.app
    server.entries()  # enrol the harness's reader before the operator changes
    old_key = operator_key(server.settings)
    old_id = identity_key_id(bytes(old_key.verify_key))
    under_way = _auditor("aud-under-way")
    token = Caller("operator", old_key).token(ENROLL_AUDITOR, under_way.SerializeToString())

    rotation = rotate_operator_key(app.db, app.trail, app.keys)

    new_key = operator_key(server.settings)
    assert rotation.old_key_id == old_id and rotation.new_key_id == identity_key_id(bytes(new_key.verify_key))
    assert rotation.new_key_id != old_id
    assert app.keys.retired_signers(cfg.OPERATOR_KEY) == {}  # the replaced private key is destroyed
    server.client(Caller("operator", new_key)).registry.EnrollAuditor(_auditor("aud-after-rotation"))
    _send_signed_earlier(server, under_way, token)  # within the grace (600 s by default)
    [entry] = [e for e in server.entries() if e["kind"] == "key.rotated" and e.get("principal") == "operator"]
    assert (entry["key_id"], entry["previous_key_id"]) == (rotation.new_key_id, old_id)


def test_a_rotation_cut_short_after_registering_is_finished_by_the_next_run(server):
    app = server.app
    server.entries()  # enrol the harness's reader before the operator changes
    staged = bytes(app.keys.stage_signer(cfg.OPERATOR_KEY).verify_key)
    with app.db.write() as s:  # the registration committed, then the process died before promoting
        add_key(s, "operator", "identity", staged)
    before = len(server.entries())
    rotation = rotate_operator_key(app.db, app.trail, app.keys)
    assert rotation.new_key_id == identity_key_id(staged) and rotation.old_key_id is None
    assert bytes(operator_key(server.settings).verify_key) == staged
    assert len(server.entries()) == before  # nothing ledgered twice, nothing registered twice


def test_with_no_grace_a_call_the_old_key_signed_is_refused(tmp_path):
    h = Harness.start(tmp_path / "data", f"sqlite:///{tmp_path / 'c.db'}", key_grace_s=0)
    try:
        late = _auditor("aud-refused")
        token = Caller("operator", operator_key(h.settings)).token(ENROLL_AUDITOR, late.SerializeToString())
        rotate_operator_key(h.app.db, h.app.trail, h.app.keys)
        with pytest.raises(grpc.RpcError) as refused:
            _send_signed_earlier(h, late, token)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert refused.value.details() == "the token's key has been replaced; sign with the current key"
        h.client(Caller("operator", operator_key(h.settings))).registry.EnrollAuditor(_auditor("aud-accepted"))
    finally:
        h.stop()


def test_a_revoked_operator_key_authenticates_nothing_not_even_within_the_grace(server):
    app = server.app
    server.entries()  # enrol the harness's reader before the operator changes
    old_key = operator_key(server.settings)
    old_id = identity_key_id(bytes(old_key.verify_key))
    under_way = _auditor("aud-stolen-token")
    token = Caller("operator", old_key).token(ENROLL_AUDITOR, under_way.SerializeToString())

    rotation = revoke_operator_key(app.db, app.trail, app.keys, old_id)  # the current key: rotated away first

    assert rotation is not None and rotation.old_key_id == old_id
    with pytest.raises(grpc.RpcError) as refused:
        _send_signed_earlier(server, under_way, token)  # within the grace, yet refused
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.details() == "the token's key has been revoked"
    server.client(Caller("operator", operator_key(server.settings))).registry.EnrollAuditor(_auditor("aud-new-key"))
    [entry] = [e for e in server.entries() if e["kind"] == "key.revoked" and e.get("principal") == "operator"]
    assert entry["key_id"] == old_id
    with pytest.raises(FailedPrecondition):
        revoke_operator_key(app.db, app.trail, app.keys, old_id)
    with pytest.raises(NotFound):
        revoke_operator_key(app.db, app.trail, app.keys, "ed25519:0000000000000000")
