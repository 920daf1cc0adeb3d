"""lib/grpcweb.js and lib/token.js in Chromium against a real server: a server-streaming call read
message by message, signed in the browser with a per-call token the service accepts, and a
refusal surfacing as the status the service gave."""

from __future__ import annotations

from auditor_page import open_page
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from harness import NONCE, grant

from consentry.services.cli.demo import discharge_records
from consentry.services.identity.tokens import identity_key_id
from consentry.v1 import exchange_pb2, registry_pb2

FETCH = "/consentry.v1.ExchangeService/FetchRecords"

# Imports the institution's key into WebCrypto (non-extractable), signs a token for the request's
# exact bytes, and reads the stream; or reports the GrpcError the call ended with.
STREAM = """async ({ pkcs8, keyId, principal, claims, request, method }) => {
    const { stream, GrpcError } = await import("/lib/grpcweb.js");
    const { callToken } = await import("/lib/token.js");
    const privateKey = await crypto.subtle.importKey("pkcs8", new Uint8Array(pkcs8), { name: "Ed25519" },
                                                     false, ["sign"]);
    const bytes = new Uint8Array(request);
    const token = await callToken({ privateKey, keyId }, principal, method, bytes, claims);
    const messages = [];
    try {
        for await (const message of stream(method, bytes, token)) messages.push(Array.from(message));
    } catch (error) {
        return { error: error instanceof GrpcError ? error.status : String(error), messages };
    }
    return { messages };
}"""


def test_a_server_stream_is_read_message_by_message_with_a_browser_signed_token(web_harness, page):
    hospital, patient = web_harness.org(), web_harness.patient()
    doctor = web_harness.org(kind=registry_pb2.INSTITUTION_KIND_FAMILY_DOCTOR, practitioner="dr-chen")
    for title, body in discharge_records(patient.id).items():
        if title != "psychiatric note":
            hospital.client.exchange.PutRecord(exchange_pb2.PutRecordRequest(patient_id=patient.id, fhir_json=body))
    grant(patient, doctor, ["discharge-summary", "medication", "lab"])
    request = exchange_pb2.FetchRecordsRequest(patient_id=patient.id, purpose="TREAT", nonce=NONCE)
    pkcs8 = Ed25519PrivateKey.from_private_bytes(bytes(doctor.identity)).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    arguments = {"pkcs8": list(pkcs8), "keyId": identity_key_id(bytes(doctor.identity.verify_key)),
                 "principal": "org:" + doctor.id, "claims": {"role": "physician", "practitioner": "dr-chen"},
                 "request": list(request.SerializeToString()), "method": FETCH}
    open_page(web_harness, page)

    fetched = page.evaluate(STREAM, arguments)
    assert "error" not in fetched, fetched
    items = [exchange_pb2.FetchRecordsResponse.FromString(bytes(m)) for m in fetched["messages"]]
    assert len(items) == 3 and all(item.shared.package.ciphertext for item in items)

    # The same key as another staff member it never registered: refused, and nothing arrives.
    refused = page.evaluate(STREAM, {**arguments, "claims": {"role": "physician", "practitioner": "dr-nobody"}})
    assert refused == {"error": "UNAUTHENTICATED", "messages": []}
