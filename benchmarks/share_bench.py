"""Micro-benchmark: disclosed shares per second on one core, and how close that is to the floor.

One "share" = what FetchRecords does per allowed record, minus database and gRPC:
open the record at rest (unwrap its data key, decrypt) -> apply obligations -> build_share
(canonical header, encrypt, seal the key, sign) -> the two hashes the ledger entry needs.

The floor is the sum of the bare primitive costs that pipeline cannot avoid, measured in the
same run (the machines are noisy: compare ratios, not absolute times across runs).

    .venv/bin/python benchmarks/share_bench.py            # ~30 s
    .venv/bin/python benchmarks/share_bench.py --quick    # ~5 s, noisier
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import nacl.public
import nacl.signing
import nacl.utils
import rfc8785
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt as xdec,
)
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_encrypt as xenc,
)

from consentry.services.crypto.at_rest import open_record, seal_record
from consentry.services.crypto.kek import LocalKekProvider
from consentry.services.crypto.share import build_share, recipient_key_id
from consentry.services.crypto.share_header import patient_binding
from consentry.services.domain.obligations import apply_obligations, keyed_pseudonym

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def fhir_body(target: int) -> bytes:
    """A FHIR searchset Bundle (one Patient + lab Observations) of about ``target`` bytes."""
    patient = {"resourceType": "Patient", "id": "pat-12345", "gender": "female",
               "identifier": [{"system": "urn:oid:2.16.156.10011.1.1", "value": "110101198001010022"}],
               "name": [{"family": "Wang", "given": ["Li"]}], "birthDate": "1980-01-01",
               "telecom": [{"system": "phone", "value": "+86 10 5555 0100"}],
               "address": [{"line": ["1 Example Rd"], "city": "Beijing"}]}
    entries = [{"fullUrl": "Patient/pat-12345", "resource": patient}]
    doc = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    i = 0
    while len(json.dumps(doc)) < target:
        entries.append({"fullUrl": f"Observation/o{i}", "resource": {
            "resourceType": "Observation", "id": f"o{i}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
            "subject": {"reference": "Patient/pat-12345", "display": "Li Wang"},
            "effectiveDateTime": "2026-11-20T08:00:00Z",
            "valueQuantity": {"value": 13.2, "unit": "g/dL"}}})
        i += 1
    return json.dumps(doc).encode()


def per_op(fn: Callable[[], object], *, repeats: int, budget: float) -> float:
    """Median seconds per call over ``repeats`` timed loops of ~``budget`` seconds each."""
    n, t = 1, 0.0
    while True:  # calibrate the loop count
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t >= budget / 4:
            break
        n *= 2
    n = max(1, int(n * budget / t))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    ap.add_argument("--cpu", type=int, help="pin to this CPU (default: let the OS pick; the "
                    "pipeline is single-threaded, so it uses one core either way)")
    args = ap.parse_args()
    repeats, budget = (3, 0.05) if args.quick else (7, 0.2)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    def m(fn: Callable[[], object]) -> float:
        return per_op(fn, repeats=repeats, budget=budget) * 1e6  # µs

    def one(fn: Callable[[], object]) -> float:
        return per_op(fn, repeats=1, budget=budget) * 1e6  # µs, one timed loop

    signer = nacl.signing.SigningKey.generate()
    recipient = nacl.public.PrivateKey.generate()
    rpk = bytes(recipient.public_key)
    rkid = recipient_key_id(rpk)
    kek = LocalKekProvider(os.urandom(32))
    pseudonym = keyed_pseudonym(os.urandom(32))
    sealed_box = nacl.public.SealedBox(recipient.public_key)
    key, nonce, fetch_nonce = os.urandom(32), os.urandom(24), os.urandom(32)

    def share(body_sealed, obligations):
        body = open_record("rec-1", body_sealed, kek)
        body, applied = apply_obligations(body, obligations, pseudonym=pseudonym)
        pkg = build_share(body, record_id="rec-1", category="lab", recipient="clinic-b", recipient_key_id=rkid,
                          recipient_public_key=rpk, purpose="TREAT", patient_ref="P-1", fetch_nonce=fetch_nonce,
                          ledger_seq=123456, obligations=applied, signer=signer, now=NOW)
        return pkg.header_hash, pkg.ciphertext_hash

    # Primitives that do not depend on the body size.
    sample_pkg = build_share(b"x", record_id="rec-1", category="lab", recipient="clinic-b", recipient_key_id=rkid,
                             recipient_public_key=rpk, purpose="TREAT", patient_ref="P-1", fetch_nonce=fetch_nonce,
                             ledger_seq=123456, obligations=[], signer=signer, now=NOW)
    header = sample_pkg.header
    header_dict = json.loads(header)
    wrapped32 = xenc(os.urandom(32), b"aad", nonce, key)
    sig_msg = os.urandom(19 + 96)
    fixed = {
        "xchacha decrypt 32 B (KEK unwrap)": m(lambda: xdec(wrapped32, b"aad", nonce, key)),
        "sealed box encrypt 32 B": m(lambda: sealed_box.encrypt(key)),
        "Ed25519 sign 115 B (PyNaCl)": m(lambda: signer.sign(sig_msg)),
        f"SHA-256 {len(header)} B header x2": 2 * m(lambda: hashlib.sha256(header).digest()),
        "SHA-256 80 B sealed key": m(lambda: hashlib.sha256(sample_pkg.sealed_key).digest()),
    }
    overheads = {  # not primitives, but visible costs worth knowing
        "rfc8785.dumps(header)": m(lambda: rfc8785.dumps(header_dict)),
        "HMAC-SHA256 patient binding": m(lambda: patient_binding(key, "P-1")),
        "uuid4 + random key/nonce": m(lambda: (uuid.uuid4(), nacl.utils.random(32), nacl.utils.random(24))),
    }

    results = []
    print(f"python {sys.version.split()[0]}, one core; medians of {repeats} interleaved rounds\n")
    print("fixed primitive costs (µs): " + ", ".join(f"{k} {v:.1f}" for k, v in fixed.items()))
    print("other costs (µs): " + ", ".join(f"{k} {v:.1f}" for k, v in overheads.items()) + "\n")
    hdr = f"{'case':<34}{'µs/share':>10}{'shares/s':>10}{'floor µs':>10}{'ratio':>8}"
    print(hdr + "\n" + "-" * len(hdr))
    cases = [("1 KiB FHIR, no obligations", 1024, {}),
             ("1 KiB FHIR, pseudonymise", 1024, {"pseudonymise": True}),
             ("16 KiB FHIR, no obligations", 16 * 1024, {}),
             ("1 MiB FHIR, no obligations", 1024 * 1024, {})]

    def primitives_for(body: bytes, ct: bytes) -> dict[str, Callable[[], object]]:
        """The primitive operations one share of ``body`` (encrypted as ``ct``) performs."""
        return {
            "xchacha decrypt body": lambda: xdec(ct, b"aad", nonce, key),
            "xchacha encrypt body": lambda: xenc(body, header, nonce, key),
            "SHA-256 ciphertext": lambda: hashlib.sha256(ct).digest(),
            "KEK unwrap": lambda: xdec(wrapped32, b"aad", nonce, key),
            "sealed box": lambda: sealed_box.encrypt(key),
            "Ed25519 sign": lambda: signer.sign(sig_msg),
            "SHA-256 header": lambda: hashlib.sha256(header).digest(),
            "SHA-256 sealed key": lambda: hashlib.sha256(sample_pkg.sealed_key).digest(),
        }

    for name, size, obligations in cases:
        body = fhir_body(size)
        sealed = seal_record("rec-1", body, kek)
        primitives = primitives_for(body, xenc(body, b"aad", nonce, key))
        pipeline = functools.partial(share, sealed, obligations)
        counts = {"SHA-256 ciphertext": 2, "SHA-256 header": 2}  # signature message + ledger entry
        # Interleave: each round times the pipeline and the primitives back to back, so a slow
        # period on this shared machine moves both and the per-round ratio stays meaningful.
        costs, floors, ratios = [], [], []
        for _ in range(repeats):
            floor = sum(counts.get(k, 1) * one(fn) for k, fn in primitives.items())
            cost = one(pipeline)
            costs.append(cost), floors.append(floor), ratios.append(cost / floor)
        cost, floor, ratio = (statistics.median(x) for x in (costs, floors, ratios))
        results.append({"case": name, "body_bytes": len(body), "us_per_share": round(cost, 1),
                        "shares_per_s": round(1e6 / cost), "floor_us": round(floor, 1),
                        "ratio": round(ratio, 2)})
        print(f"{name:<34}{cost:>10.1f}{1e6 / cost:>10.0f}{floor:>10.1f}{ratio:>8.2f}")
    print("\nfloor = KEK unwrap + body decrypt + body encrypt + sealed box + Ed25519 sign + the SHA-256s")
    print("(signature message: header, ciphertext, sealed key; ledger entry: header, ciphertext).")
    if args.json:
        print(json.dumps({"fixed_us": fixed, "other_us": overheads, "cases": results}))


if __name__ == "__main__":
    main()
