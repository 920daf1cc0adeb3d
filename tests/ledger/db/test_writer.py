"""LedgerWriter on SQLite and PostgreSQL: appends, atomicity with the caller's state change,
the commit guard."""

from __future__ import annotations

import pytest
from ledger_testlib import append_many, sample_entry
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from consentry.ledger.db import MAX_ENTRY_BYTES, LedgerReader, LedgerWriter
from consentry.ledger.db.tables import ledger_entries, ledger_head
from consentry.ledger.entries import entry_leaf_hash
from consentry.ledger.errors import CanonicalizationError, EntryError, StoreError
from consentry.ledger.hashing import ZERO_HASH, chain_hash
from consentry.ledger.verification import replay


def _business_table(engine):
    meta = MetaData()
    table = Table("ledger_test_state_change", meta, Column("id", Integer, primary_key=True))
    meta.create_all(engine)
    return table


def _state_change_with(engine, table, ledger_work) -> None:
    """One caller transaction: insert a row into ``table``, then ``ledger_work(conn)``."""
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1))
        ledger_work(conn)


def _append(entry):
    def work(conn):
        with LedgerWriter.lock(conn) as writer:
            writer.append(entry)

    return work


def _crash_after_append(conn):
    with LedgerWriter.lock(conn) as writer:
        writer.append(sample_entry(99))
    raise RuntimeError("crash after append, before commit")


def _crash_between_append_and_flush(conn):
    with LedgerWriter.lock(conn) as writer:
        writer.append(sample_entry(99))
        raise RuntimeError("crash between append and flush")


def _append_without_flush(conn):
    LedgerWriter.lock(conn).append(sample_entry(0))  # no flush, no context manager: commit must refuse


def _lock_twice(conn):
    LedgerWriter.lock(conn).append(sample_entry(0))
    LedgerWriter.lock(conn)


def test_append_fills_seq_prev_and_chain(engine):
    appended = append_many(engine, 5, per_txn=2)
    chain = ZERO_HASH
    for i, a in enumerate(appended):
        assert a.seq == i
        assert f'"prev":"{chain.hex()}"'.encode() in a.entry_bytes
        assert a.leaf_hash == entry_leaf_hash(a.entry_bytes)
        chain = chain_hash(chain, a.leaf_hash)
        assert a.chain_hash == chain
    with engine.connect() as conn:
        reader = LedgerReader(conn)
        rows = reader.entries(0, 100)
        assert [r.entry for r in rows] == [a.entry_bytes for a in appended]
        assert reader.head().chain_hash == chain


def test_next_seq_is_known_before_append(engine):
    append_many(engine, 3)
    with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        seq = writer.next_seq
        assert seq == 3
        assert writer.append({"kind": "x", "share_header": {"ledger_seq": seq}}).seq == seq


def test_failure_inside_transaction_leaves_neither(engine):
    consents = _business_table(engine)
    append_many(engine, 2)
    with pytest.raises(RuntimeError, match="crash after append"):
        _state_change_with(engine, consents, _crash_after_append)
    with pytest.raises(RuntimeError, match="crash between append and flush"):
        _state_change_with(engine, consents, _crash_between_append_and_flush)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar() == 0
        assert LedgerReader(conn).size() == 2
        assert conn.execute(select(func.count()).select_from(ledger_entries)).scalar() == 2
    # and the log continues gap-free afterwards
    assert append_many(engine, 1, start=2)[0].seq == 2


def test_failed_append_rolls_back_state_change(engine):
    consents = _business_table(engine)
    with pytest.raises(EntryError, match="set by the ledger"):
        _state_change_with(engine, consents, _append({"kind": "x", "seq": 5}))
    with pytest.raises(CanonicalizationError, match="floats"):
        _state_change_with(engine, consents, _append({"kind": "x", "amount": 1.5}))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar() == 0
        assert LedgerReader(conn).size() == 0


def test_forgotten_flush_cannot_commit(engine):
    consents = _business_table(engine)
    with pytest.raises(EntryError, match="committed with unflushed ledger entries"):
        _state_change_with(engine, consents, _append_without_flush)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar() == 0
    # explicit flush works, and the same connection keeps working after
    with engine.connect() as conn:
        for i in range(3):
            with conn.begin():
                writer = LedgerWriter.lock(conn)
                writer.append(sample_entry(i))
                writer.flush()
        assert LedgerReader(conn).size() == 3


def test_orm_session_connection(engine):
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        with LedgerWriter.lock(session.connection()) as writer:
            writer.append(sample_entry(0))
        session.commit()
    with engine.connect() as conn:
        assert LedgerReader(conn).size() == 1


def test_nested_seq_or_prev_keys_refused(engine):
    with pytest.raises(EntryError), engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        writer.append({"kind": "x", "details": {"seq": 1}})
    with engine.connect() as conn:
        assert LedgerReader(conn).size() == 0


def test_an_entry_over_the_size_limit_is_refused_and_nothing_is_appended(engine):
    """MAX_ENTRY_BYTES counts the canonical bytes with seq and prev: an entry exactly at the
    limit is appended, one byte more is refused (and the transaction's state change with it)."""
    with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        probe = writer.append({"kind": "x", "pad": ""})
    room = MAX_ENTRY_BYTES - len(probe.entry_bytes)
    with engine.begin() as conn, LedgerWriter.lock(conn) as writer:
        at_limit = writer.append({"kind": "x", "pad": "a" * room})
    assert len(at_limit.entry_bytes) == MAX_ENTRY_BYTES
    consents = _business_table(engine)
    with pytest.raises(EntryError, match=f"at most {MAX_ENTRY_BYTES} bytes"):
        _state_change_with(engine, consents, _append({"kind": "x", "pad": "a" * (room + 1)}))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar() == 0
        assert LedgerReader(conn).size() == 2


def test_head_row_is_single(engine):
    append_many(engine, 1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_head)).scalar() == 1


def test_lock_needs_transaction(engine):
    with engine.connect() as conn:
        conn.commit()  # make sure no autobegun transaction is open
        with pytest.raises(StoreError):
            LedgerWriter.lock(conn)


def test_second_lock_with_unflushed_writer_refused(engine):
    with pytest.raises(EntryError, match="flush the transaction's first LedgerWriter"), engine.begin() as conn:
        _lock_twice(conn)
    with engine.begin() as conn:  # after a flush a second lock is fine
        with LedgerWriter.lock(conn) as w:
            w.append(sample_entry(0))
        with LedgerWriter.lock(conn) as w:
            assert w.append(sample_entry(1)).seq == 1


def test_writer_is_stale_after_savepoint_rollback(engine):
    with engine.begin() as conn:
        writer = LedgerWriter.lock(conn)
        writer.append(sample_entry(0))
        writer.flush()
        savepoint = conn.begin_nested()
        writer.append(sample_entry(1))
        writer.flush()
        savepoint.rollback()
        with pytest.raises(EntryError):
            writer.append(sample_entry(2))
        with LedgerWriter.lock(conn) as fresh:
            assert fresh.next_seq == 1
            fresh.append(sample_entry(1))
    with engine.connect() as conn:
        assert replay(LedgerReader(conn).export(), strict=True).size == 2
