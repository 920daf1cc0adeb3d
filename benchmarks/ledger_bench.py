"""Audit ledger benchmark: appends, offline verification, proofs (vs pymerkle 7).

    .venv/bin/python benchmarks/ledger_bench.py [--quick]

PostgreSQL runs too when CONSENTRY_TEST_PG_URL is set (a throwaway schema is
created and dropped).  The machine is shared and noisy: compare ratios
printed within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import tempfile
import time
import uuid
from hashlib import sha256

from sqlalchemy import create_engine, text

from consentry.ledger.hashing import ZERO_HASH
from consentry.ledger.merkle import fold_right
from consentry.ledger.store import (
    LEDGER_TABLES,
    LedgerReader,
    LedgerWriter,
    configure_sqlite_writes,
    metadata,
)
from consentry.ledger.verify import replay

PG_URL = os.environ.get("CONSENTRY_TEST_PG_URL")


def entry(i: int, worker: int = 0) -> dict:
    return {
        "time": "2026-11-25T12:00:00Z",
        "kind": "access.decision",
        "actor": f"clinician:hospital-a/u{i % 97}",
        "patient": f"{i % 1013:064x}",
        "decision": "allow",
        "reasons": [f"consent:c-{i}", "purpose:treatment"],
        "policy": "rev-7",
        "record": {"id": f"rec-{worker}-{i}", "sha256": f"{i:064x}"},
    }


# ---------------------------------------------------------------- databases


def make_engine(kind: str, where: str):
    if kind == "sqlite":
        engine = create_engine(f"sqlite:///{where}")
        configure_sqlite_writes(engine)  # WAL, BEGIN IMMEDIATE, synchronous=FULL (default)
        return engine
    return create_engine(PG_URL, connect_args={"options": f"-csearch_path={where}"})


class Database:
    """A fresh ledger database: a temp SQLite file or a throwaway PG schema."""

    def __init__(self, kind: str):
        self.kind = kind
        if kind == "sqlite":
            self.tmp = tempfile.TemporaryDirectory()
            self.where = os.path.join(self.tmp.name, "ledger.db")
        else:
            self.where = f"ledger_bench_{uuid.uuid4().hex[:10]}"
            with create_engine(PG_URL).begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.where}"'))
        self.engine = make_engine(kind, self.where)
        metadata.create_all(self.engine, tables=LEDGER_TABLES)

    def close(self):
        self.engine.dispose()
        if self.kind == "sqlite":
            self.tmp.cleanup()
        else:
            with create_engine(PG_URL).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.where}" CASCADE'))


def _writer_process(kind, where, worker, count, per_txn, start_at):
    engine = make_engine(kind, where)
    with engine.connect():
        pass
    time.sleep(max(0.0, start_at - time.time()))
    t0 = time.time()
    done = 0
    while done < count:
        with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
            for _ in range(min(per_txn, count - done)):
                writer.append(entry(done, worker))
                done += 1
    t1 = time.time()
    engine.dispose()
    return t0, t1, done


def bench_appends(kind: str, writers: int, per_txn: int, count: int) -> float:
    db = Database(kind)
    try:
        start_at = time.time() + 1.5 + 0.5 * writers
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(writers) as pool:
            results = pool.starmap(
                _writer_process,
                [(kind, db.where, w, count, per_txn, start_at) for w in range(writers)],
            )
        span = max(r[1] for r in results) - min(r[0] for r in results)
        total = sum(r[2] for r in results)
        with db.engine.connect() as conn:
            assert LedgerReader(conn).size() == total
            assert replay(LedgerReader(conn).export()).size == total
        return total / span
    finally:
        db.close()


# ---------------------------------------------------------------- verifier


def generate_export(n: int) -> list[bytes]:
    """n canonical entries with correct seq/prev, built from a byte template."""
    template = (
        b'{"action":"disclose","actor":"clinician:hospital-a/u%d","decision":"allow",'
        b'"kind":"access.decision","patient":"%s","policy":"rev-7","prev":"%s",'
        b'"reasons":["consent:c-%d","purpose:treatment"],"record":{"id":"rec-%d",'
        b'"sha256":"%064x"},"seq":%d,"time":"2026-11-25T12:00:00Z"}'
    )
    out, chain = [], ZERO_HASH
    for i in range(n):
        e = template % (i % 97, b"%064x" % (i % 1013), chain.hex().encode(), i, i, i, i)
        chain = sha256(chain + sha256(b"\x00" + e).digest()).digest()
        out.append(e)
    return out


def bare_hashing(entries: list[bytes]) -> bytes:
    """Floor: leaf hash + chain + incremental root and nothing else."""
    chain, stack = ZERO_HASH, []
    for n, e in enumerate(entries):
        leaf = sha256(b"\x00" + e).digest()
        chain = sha256(chain + leaf).digest()
        h, k = leaf, n
        while k & 1:
            h = sha256(b"\x01" + stack.pop() + h).digest()
            k >>= 1
        stack.append(h)
    return fold_right(stack)


def timed(fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


# ---------------------------------------------------------------- proofs


def load(db: Database, n: int, per_txn: int = 10_000) -> float:
    t0 = time.perf_counter()
    done = 0
    while done < n:
        with db.engine.begin() as conn, LedgerWriter.lock(conn) as writer:
            for _ in range(min(per_txn, n - done)):
                writer.append(entry(done))
                done += 1
    return n / (time.perf_counter() - t0)


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"p50 {p50 * 1e3:7.3f} ms  p99 {p99 * 1e3:7.3f} ms"


def bench_proofs(db: Database, n: int, samples: int, rng: random.Random) -> dict[str, str]:
    out = {}
    with db.engine.connect() as conn:
        reader = LedgerReader(conn)
        incl, cons, root = [], [], []
        for _ in range(samples):
            size = rng.randint(n // 2, n)
            index = rng.randrange(size)
            t0 = time.perf_counter()
            reader.inclusion_proof(index, size)
            incl.append(time.perf_counter() - t0)
            old = rng.randint(1, size)
            t0 = time.perf_counter()
            reader.consistency_proof(old, size)
            cons.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            reader.root(size)
            root.append(time.perf_counter() - t0)
    out["inclusion"] = percentiles(incl)
    out["consistency"] = percentiles(cons)
    out["root(size)"] = percentiles(root)
    return out


def bench_pymerkle(entries: list[bytes], samples: int, rng: random.Random) -> dict[str, str]:
    from pymerkle import InmemoryTree

    n = len(entries)
    tree = InmemoryTree(algorithm="sha256")
    t0 = time.perf_counter()
    for e in entries:
        tree.append_entry(e)
    rate = n / (time.perf_counter() - t0)
    incl, cons = [], []
    for _ in range(samples):
        size = rng.randint(n // 2, n)
        index = rng.randrange(size)
        t0 = time.perf_counter()
        tree.prove_inclusion(index + 1, size)  # pymerkle counts leaves from 1
        incl.append(time.perf_counter() - t0)
        old = rng.randint(1, size)
        t0 = time.perf_counter()
        tree.prove_consistency(old, size)
        cons.append(time.perf_counter() - t0)
    return {"appends/s (memory)": f"{rate:,.0f}", "inclusion": percentiles(incl),
            "consistency": percentiles(cons)}


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, not minutes)")
    args = parser.parse_args()
    q = args.quick
    kinds = ["sqlite"] + (["postgresql"] if PG_URL else [])
    rng = random.Random(42)
    print(f"ledger benchmark ({'quick' if q else 'full'}), {os.cpu_count()} CPUs; "
          f"backends: {', '.join(kinds)}")

    print("\n== appends (durable commits; each writer is a process) ==")
    for kind in kinds:
        for per_txn, count in ((100, 2_000 if q else 10_000), (1, 200 if q else 1_000)):
            for writers in (1, 4):
                rate = bench_appends(kind, writers, per_txn, count // writers if writers > 1 else count)
                print(f"{kind:10s} {writers} writer(s) {per_txn:3d} entries/txn: {rate:9,.0f} appends/s")

    n = 100_000 if q else 1_000_000
    print(f"\n== offline verification over {n:,} entries (in memory) ==")
    gen_t, entries = timed(generate_export, n)
    floor_t, floor_root = timed(bare_hashing, entries)
    ver_t, result = timed(replay, entries)
    assert result.root == floor_root
    strict_n = n // 10
    strict_t, _ = timed(lambda: replay(entries[:strict_n], strict=True))
    print(f"generate export:          {n / gen_t:10,.0f} entries/s")
    print(f"floor (hashes only):      {n / floor_t:10,.0f} entries/s  ({floor_t:.2f} s)")
    print(f"verify (seq/prev/chain/root): {n / ver_t:6,.0f} entries/s  ({ver_t:.2f} s, "
          f"{ver_t / floor_t:.2f}x floor)")
    print(f"verify strict (JSON parse + canonical check): {strict_n / strict_t:,.0f} entries/s")

    pn = 10_000 if q else 1_000_000
    samples = 200
    print(f"\n== proofs at {pn:,} entries ({samples} random (index,size)/(old,new), size in [n/2, n]) ==")
    for kind in kinds:
        db = Database(kind)
        try:
            rate = load(db, pn)
            print(f"{kind:10s} bulk load via LedgerWriter (10k/txn): {rate:,.0f} appends/s")
            for what, value in bench_proofs(db, pn, samples, rng).items():
                print(f"{kind:10s} {what:12s} {value}")
        finally:
            db.close()
    for what, value in bench_pymerkle(entries[:pn] if pn <= n else generate_export(pn), samples, rng).items():
        print(f"{'pymerkle':10s} {what:12s} {value}")


if __name__ == "__main__":
    main()
