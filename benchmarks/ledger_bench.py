"""Audit ledger benchmark: appends, offline verification, proofs (vs pymerkle 7).

    .venv/bin/python benchmarks/ledger_bench.py [--quick] [--only proofs] [--samples N] [--keep] [--cold]

PostgreSQL runs too when CONSENTRY_TEST_PG_URL is set (a throwaway schema is
created and dropped; with --keep the proof databases are kept and reused).
The machine is shared and noisy: the load average is printed around each
measurement; compare ratios printed within one run, not absolute numbers
across runs, and look at p99 with the load in mind.
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

from consentry.ledger.db import LedgerReader, LedgerWriter, configure_sqlite, create_tables
from consentry.ledger.hashing import ZERO_HASH
from consentry.ledger.merkle import fold_right
from consentry.ledger.verification import replay

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
        configure_sqlite(engine, immediate=True)  # as the service's write engine
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
        create_tables(self.engine)

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


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds; p99 is the sample below which 99% fall."""
    samples = sorted(samples)
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return p50 * 1e3, p99 * 1e3


def proof_cases(n: int, samples: int, seed: int = 42) -> list[tuple[int, int, int]]:
    """(index, size, old_size) triples, size in [n/2, n]: the same for every backend."""
    rng = random.Random(seed)
    cases = []
    for _ in range(samples):
        size = rng.randint(n // 2, n)
        cases.append((rng.randrange(size), size, rng.randint(1, size)))
    return cases


WARMUP = 20  # untimed proofs first: statement compilation, psycopg's prepare


def bench_proofs(db: Database, cases) -> dict[str, tuple[float, float]]:
    incl, cons, root, incl_now, cons_now = [], [], [], [], []
    with db.engine.connect() as conn:
        reader = LedgerReader(conn)
        n = reader.size()
        for index, size, old in cases[:WARMUP]:
            reader.inclusion_proof(index, size)
            reader.consistency_proof(old, size)
        for index, size, old in cases:
            t0 = time.perf_counter()
            reader.inclusion_proof(index, size)
            incl.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            reader.consistency_proof(old, size)
            cons.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            reader.root(size)
            root.append(time.perf_counter() - t0)
        for index, size, old in cases:  # at the current size (size=None): what clients mostly ask
            t0 = time.perf_counter()
            reader.inclusion_proof(index * n // size)
            incl_now.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            reader.consistency_proof(old)
            cons_now.append(time.perf_counter() - t0)
    return {"inclusion": percentiles(incl), "consistency": percentiles(cons),
            "root(size)": percentiles(root), "inclusion @head": percentiles(incl_now),
            "consistency @head": percentiles(cons_now)}


def database_files(db: Database) -> list[str]:
    """The files holding the ledger (for evicting them from the OS page cache)."""
    if db.kind == "sqlite":
        return [f for f in (db.where, db.where + "-wal") if os.path.exists(f)]
    with db.engine.connect() as conn:
        base = conn.execute(text("SHOW data_directory")).scalar()
        rels = conn.execute(text(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace s"
            " ON s.oid = c.relnamespace WHERE s.nspname = current_schema()"
            " AND c.relname LIKE 'ledger%' AND c.relkind IN ('r', 'i')")).scalars().all()
    files = []
    for rel in rels:
        path = os.path.join(base, rel)
        files += [path] + [f"{path}.{k}" for k in range(1, 64) if os.path.exists(f"{path}.{k}")]
    return [f for f in files if os.access(f, os.R_OK)]


def evict(files: list[str]) -> None:
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def prewarm(files: list[str]) -> int:
    """Read the files once so the OS page cache holds them: a defined "warm" start."""
    total = 0
    for f in files:
        with open(f, "rb", buffering=0) as fh:
            while chunk := fh.read(1 << 20):
                total += len(chunk)
    return total


def bench_proofs_cold(db: Database, cases) -> dict[str, tuple[float, float]] | None:
    """Proofs with the ledger's files evicted from the OS page cache before each one.

    PostgreSQL's shared_buffers (and SQLite's per-connection page cache,
    which a new transaction per proof discards) are not touched: this is
    the "pages were reclaimed" case, not a cold server.
    """
    files = database_files(db)
    if not files:
        return None
    incl, cons = [], []
    with db.engine.connect() as conn:
        reader = LedgerReader(conn)
        for index, size, _old in cases[:WARMUP]:
            reader.inclusion_proof(index, size)
        conn.commit()
        for index, size, old in cases:
            for fn, args, out in ((reader.inclusion_proof, (index, size), incl),
                                  (reader.consistency_proof, (old, size), cons)):
                evict(files)
                t0 = time.perf_counter()
                fn(*args)
                out.append(time.perf_counter() - t0)
                conn.commit()  # end the read transaction (and SQLite's page cache with it)
    return {"inclusion": percentiles(incl), "consistency": percentiles(cons)}


def build_pymerkle(entries: list[bytes]):
    from pymerkle import InmemoryTree

    tree = InmemoryTree(algorithm="sha256")
    t0 = time.perf_counter()
    for e in entries:
        tree.append_entry(e)
    return tree, len(entries) / (time.perf_counter() - t0)


def bench_pymerkle(tree, cases) -> dict[str, tuple[float, float]]:
    incl, cons = [], []
    for index, size, _old in cases[:WARMUP]:
        tree.prove_inclusion(index + 1, size)
    for index, size, old in cases:
        t0 = time.perf_counter()
        tree.prove_inclusion(index + 1, size)  # pymerkle counts leaves from 1
        incl.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tree.prove_consistency(old, size)
        cons.append(time.perf_counter() - t0)
    return {"inclusion": percentiles(incl), "consistency": percentiles(cons)}


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def proof_database(kind: str, n: int, keep: bool) -> tuple[Database, bool]:
    """A database holding n entries: loaded now, or (--keep) reused from a previous run."""
    if keep:
        db = KeptDatabase(kind, n)
        with db.engine.connect() as conn:
            size = LedgerReader(conn).size()
        if size == n:
            return db, True
        if size:
            raise SystemExit(f"kept {kind} database {db.where} has {size} entries, not {n}: drop it")
        return db, False
    return Database(kind), False


class KeptDatabase(Database):
    """Like Database, but at a fixed place and never dropped (--keep)."""

    def __init__(self, kind: str, n: int):
        self.kind = kind
        if kind == "sqlite":
            self.where = os.path.join(tempfile.gettempdir(), f"consentry_ledger_bench_{n}.db")
        else:
            self.where = f"ledger_bench_keep_{n}"
            with create_engine(PG_URL).begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.where}"'))
        self.engine = make_engine(kind, self.where)
        create_tables(self.engine)

    def close(self):
        self.engine.dispose()


def print_proof_table(rows: dict[str, dict[str, tuple[float, float]]], target_ms: float) -> None:
    columns = ["inclusion", "consistency", "root(size)", "inclusion @head", "consistency @head"]
    head = f"{'':22s}" + "".join(f"{c:>22s}" for c in columns)
    print(head)
    print(f"{'(ms)':22s}" + "".join(f"{'p50':>11s}{'p99':>11s}" for _ in columns))
    for name, values in rows.items():
        cells = []
        for c in columns:
            if c in values:
                p50, p99 = values[c]
                cells.append(f"{p50:11.3f}{p99:11.3f}")
            else:
                cells.append(f"{'-':>11s}{'-':>11s}")
        print(f"{name:22s}" + "".join(cells))
    for name, values in rows.items():
        worst = max(max(values[c]) for c in ("inclusion", "consistency"))  # p50 and p99
        verdict = "meets" if worst <= target_ms else "MISSES"
        print(f"{name:22s} {verdict} the {target_ms:g} ms target (worst proof p50/p99: {worst:.3f} ms)")


def run_proofs(kinds: list[str], pn: int, samples: int, keep: bool, entries: list[bytes] | None,
               cold: bool = False) -> None:
    cases = proof_cases(pn, samples)
    if cold:
        print("\n'(cold)' rows: the ledger's files are evicted from the OS page cache before each "
              f"proof ({max(WARMUP, samples // 5)} samples; PostgreSQL shared_buffers stay warm)")
    print(f"\n== proofs at {pn:,} entries ({samples} random (index,size)/(old,new), size in [n/2, n], "
          f"same cases everywhere; {WARMUP} untimed warm-up; '@head' = size=None) ==")
    rows = {}
    for kind in kinds:
        db, reused = proof_database(kind, pn, keep)
        try:
            if reused:
                print(f"{kind:10s} reusing the kept database {db.where}")
            else:
                rate = load(db, pn)
                print(f"{kind:10s} bulk load via LedgerWriter (10k/txn): {rate:,.0f} appends/s")
            warmed = prewarm(database_files(db))
            print(f"{kind:10s} OS page cache pre-warmed ({warmed / 2**20:,.0f} MB of database files read)")
            print(f"{kind:10s} measuring proofs, {loadavg()}")
            rows[kind] = bench_proofs(db, cases)
            print(f"{kind:10s} done, {loadavg()}")
            if cold:
                cold_rows = bench_proofs_cold(db, cases[: max(WARMUP, samples // 5)])
                if cold_rows is None:
                    print(f"{kind:10s} cold: cannot open the database files, skipped")
                else:
                    rows[f"{kind} (cold)"] = cold_rows
                    print(f"{kind:10s} cold pass done, {loadavg()}")
        finally:
            db.close()
    tree, rate = build_pymerkle(entries[:pn] if entries and len(entries) >= pn else generate_export(pn))
    print(f"pymerkle   in-memory appends: {rate:,.0f}/s; measuring proofs, {loadavg()}")
    rows["pymerkle (memory)"] = bench_pymerkle(tree, cases)
    print()
    print_proof_table(rows, target_ms=2.0)


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, not minutes)")
    parser.add_argument("--only", choices=["appends", "verify", "proofs"], action="append",
                        help="run only these sections (repeatable)")
    parser.add_argument("--samples", type=int, default=1000, help="proofs per kind (default 1000)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the loaded proof databases (temp dir file / PG schema "
                             "ledger_bench_keep_N) and reuse them on the next run")
    parser.add_argument("--cold", action="store_true",
                        help="also time proofs with the ledger files evicted from the OS page cache")
    args = parser.parse_args()
    q = args.quick
    sections = set(args.only or ["appends", "verify", "proofs"])
    kinds = ["sqlite"] + (["postgresql"] if PG_URL else [])
    print(f"ledger benchmark ({'quick' if q else 'full'}), {os.cpu_count()} CPUs; "
          f"backends: {', '.join(kinds)}; {loadavg()}")

    if "appends" in sections:
        print("\n== appends (durable commits; each writer is a process) ==")
        for kind in kinds:
            for per_txn, count in ((100, 2_000 if q else 10_000), (10, 1_000 if q else 4_000),
                                   (1, 200 if q else 1_000)):
                for writers in (1, 4):
                    rate = bench_appends(kind, writers, per_txn, count // writers if writers > 1 else count)
                    print(f"{kind:10s} {writers} writer(s) {per_txn:3d} entries/txn: {rate:9,.0f} appends/s")

    n = 100_000 if q else 1_000_000
    entries = None
    if "verify" in sections:
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

    if "proofs" in sections:
        run_proofs(kinds, 10_000 if q else 1_000_000, args.samples, args.keep, entries, args.cold)
    print(f"\nend: {loadavg()}")


if __name__ == "__main__":
    main()
