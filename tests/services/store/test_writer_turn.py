"""On SQLite, writers in different processes (the workers of `serve --workers N`) take turns on a
lock file beside the database: a writer waits for another process's write transaction to end,
then goes on; one that cannot get its turn within WRITER_WAIT_S fails as UNAVAILABLE, with
nothing changed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import text

from consentry.services.errors import Unavailable
from consentry.services.store import db as store_db
from consentry.services.store.db import Database

# Another process: one write transaction that holds its turn for `hold` seconds.
OTHER_WRITER = textwrap.dedent("""
    import sys, time
    from sqlalchemy import text
    from consentry.services.store.db import Database
    db = Database(sys.argv[1])
    with db.write() as s:
        s.execute(text("INSERT INTO turns VALUES ('other')"))
        print("writing", flush=True)
        time.sleep(float(sys.argv[2]))
""")


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path}/turns.db"
    db = Database(url)
    with db.write() as s:
        s.execute(text("CREATE TABLE turns (who TEXT)"))
    db.dispose()
    return url


def other_writer(url: str, hold_s: float) -> subprocess.Popen:
    """The other process, once it is inside its write transaction."""
    proc = subprocess.Popen([sys.executable, "-c", OTHER_WRITER, url, str(hold_s)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "writing\n"
    return proc


def test_a_writer_waits_for_the_other_process_then_writes(url):
    db = Database(url)
    try:
        other = other_writer(url, 0.5)
        with db.write() as s:
            s.execute(text("INSERT INTO turns VALUES ('this')"))
        assert other.wait(timeout=30) == 0
        with db.read() as s:
            assert s.execute(text("SELECT who FROM turns ORDER BY rowid")).scalars().all() == ["other", "this"]
    finally:
        db.dispose()


def test_a_writer_that_cannot_get_its_turn_fails_unavailable(url, monkeypatch):
    monkeypatch.setattr(store_db, "WRITER_WAIT_S", 0.3)
    db = Database(url)
    try:
        other = other_writer(url, 3)
        started = time.monotonic()
        with pytest.raises(Unavailable, match=r"^the database is busy; nothing was changed or disclosed$"), \
                db.write() as s:
            s.execute(text("INSERT INTO turns VALUES ('this')"))
        assert time.monotonic() - started < 2  # the turn's wait, not SQLite's busy timeout
        assert other.wait(timeout=30) == 0
        with db.write() as s:  # the abandoned wait let its turn go: the next writer gets one
            s.execute(text("INSERT INTO turns VALUES ('later')"))
        with db.read() as s:
            assert s.execute(text("SELECT who FROM turns ORDER BY rowid")).scalars().all() == ["other", "later"]
    finally:
        db.dispose()


def test_an_in_memory_database_writes_without_a_lock_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = Database("sqlite://")
    try:
        with db.write() as s:
            assert s.execute(text("SELECT 1")).scalar() == 1
    finally:
        db.dispose()
    assert list(tmp_path.iterdir()) == []
