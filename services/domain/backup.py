"""A backup of one deployment, and putting it back: the database as of one instant, then the
data directory's files (service keys, record keys, value sets), with a manifest naming the
SHA-256 of every file, so that a damaged or altered backup is refused rather than restored.

Order matters. The database is copied first and the files after, so every record in the copy
finds its record key: a record's key file is written before the record commits. A record erased
in between would stay in the copied database, not erased, with its key gone: a SQLite backup
that finds one is taken again; a restore names those the restored database holds (on PostgreSQL
the database's backup is taken apart), for their holders to erase again.

SQLite is copied here with its online backup API: consistent while the server runs, writers
wait at most for one step of the copy. PostgreSQL is backed up with its own tools (pg_dump,
base backups and WAL archiving), before this: docs/operations.md, "Backup and restore".

A backup holds the deployment's private keys when they are files: it is made 0700/0600, and is
to be kept as carefully as the data directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from consentry.ledger.db import LedgerReader
from consentry.services import clock
from consentry.services.config import Settings
from consentry.services.crypto import record_keys
from consentry.services.crypto.keyfiles import create_private_file, ensure_private_dir, fsync_dir
from consentry.services.domain import erasure

MANIFEST = "consentry-backup.json"
FORMAT, VERSION = "consentry-backup", 1
# The SQLite database's name inside a backup: apart from the files, which go back where they were.
DATABASE = "database.sqlite"
# How often a backup is taken again when an erasure ran between its two copies.
ATTEMPTS = 3
# What SQLite keeps beside its database file while it runs; the online copy replaces them.
_SQLITE_SIDECARS = ("-wal", "-shm", "-journal", ".writer-lock")


class BackupError(Exception):
    """The backup cannot be made or restored; the message says why in one line."""


@dataclass(frozen=True)
class Manifest:
    created: str
    database: str  # "sqlite" (in the backup) or "postgresql" (backed up with its own tools)
    files: dict[str, str]  # path relative to the data directory (or DATABASE) -> SHA-256, hex
    ledger_entries: int | None  # SQLite only: the ledger's size in the copy
    checkpoint_size: int | None  # and its latest signed checkpoint's

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "version": VERSION, "created": self.created,
                           "database": self.database, "files": self.files,
                           "ledger": {"entries": self.ledger_entries, "checkpoint_size": self.checkpoint_size}},
                          indent=1, sort_keys=True).encode() + b"\n"


def back_up(settings: Settings, destination: Path) -> Manifest:
    """Writes a backup of the deployment to `destination`, a new directory; made in a directory
    beside it and renamed at the end, so a backup that exists is a whole one."""
    if destination.exists():
        raise BackupError(f"{destination} exists; a backup goes to a new directory")
    if not any(_data_files(settings)):
        raise BackupError(f"{settings.data_dir} holds no deployment to back up")
    for _attempt in range(ATTEMPTS):
        partial = destination.with_name(f".{destination.name}.partial-{secrets.token_hex(4)}")
        ensure_private_dir(partial)
        try:
            manifest = _write(settings, partial)
            if manifest.database == "sqlite" and _keyless_records(f"sqlite:///{partial / DATABASE}", partial):
                shutil.rmtree(partial)  # an erasure ran between the two copies: take both again
                continue
            partial.rename(destination)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        fsync_dir(destination.parent)
        return manifest
    raise BackupError(f"records were erased during each of {ATTEMPTS} attempts; try again")


def _write(settings: Settings, partial: Path) -> Manifest:
    files: dict[str, str] = {}
    entries = checkpoint = None
    sqlite_file = _sqlite_file(settings.database_url)
    if sqlite_file is not None:
        _copy_sqlite(sqlite_file, partial / DATABASE)
        files[DATABASE] = _sha256(partial / DATABASE)
        entries, checkpoint = _ledger_size(partial / DATABASE)
    for relative in _data_files(settings):
        try:
            data = (settings.data_dir / relative).read_bytes()
        except FileNotFoundError:
            continue  # removed meanwhile (a record key erased, a temporary file renamed)
        ensure_private_dir((partial / relative).parent)
        create_private_file(partial / relative, data)
        files[relative] = hashlib.sha256(data).hexdigest()
    manifest = Manifest(clock.now_rfc3339(),
                        "sqlite" if sqlite_file is not None else "postgresql", files, entries, checkpoint)
    create_private_file(partial / MANIFEST, manifest.to_json())
    return manifest


def restore(settings: Settings, source: Path) -> tuple[Manifest, list[str]]:
    """Puts the backup in `source` back as the deployment `settings` names: its data directory
    must not exist or be empty, and a SQLite database must not exist yet (a PostgreSQL one must
    have been restored already). Every file is checked against the manifest before anything is
    written. Returns the manifest and the records the database holds without their record key
    here: erased after the database's copy was taken, or deposited after the files' copy."""
    manifest = read_manifest(source)
    for relative, digest in manifest.files.items():
        if _sha256(source / relative) != digest:
            raise BackupError(f"{source / relative} does not match the backup's manifest: damaged or altered")
    target = settings.data_dir
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty; restore into a new or empty data directory")
    database = _restored_database(settings, manifest)
    ensure_private_dir(target)
    written: list[Path] = []
    try:
        for relative in manifest.files:
            where = database if relative == DATABASE else target / relative
            assert where is not None  # _restored_database refused a SQLite backup without a file to go to
            ensure_private_dir(where.parent)
            create_private_file(where, (source / relative).read_bytes())
            written.append(where)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return manifest, _keyless_records(settings.database_url, target)


def read_manifest(source: Path) -> Manifest:
    try:
        raw = json.loads((source / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise BackupError(f"{source} holds no {MANIFEST}: not a whole Consentry backup") from None
    except ValueError:
        raise BackupError(f"{source / MANIFEST} is not JSON") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("version") != VERSION:
        raise BackupError(f"{source / MANIFEST} is not a {FORMAT} manifest of version {VERSION}")
    files = raw.get("files")
    if not isinstance(files, dict) or any(not _inside(name) for name in files):
        raise BackupError(f"{source / MANIFEST} names a file outside the backup")
    ledger = raw.get("ledger") or {}
    return Manifest(str(raw.get("created")), str(raw.get("database")), files, ledger.get("entries"),
                    ledger.get("checkpoint_size"))


def _restored_database(settings: Settings, manifest: Manifest) -> Path | None:
    """Where the backup's SQLite database goes; refuses a backup that does not fit the settings."""
    sqlite_file = _sqlite_file(settings.database_url)
    if manifest.database == "sqlite":
        if sqlite_file is None:
            raise BackupError("the backup holds a SQLite database but CONSENTRY_DATABASE_URL names another "
                              "database; unset it to restore the SQLite one")
        if sqlite_file.exists():
            raise BackupError(f"{sqlite_file} exists; restore into a new database")
        return sqlite_file
    if sqlite_file is not None:
        raise BackupError("the backup is of a PostgreSQL deployment: restore its database with PostgreSQL's "
                          "tools and set CONSENTRY_DATABASE_URL to it (docs/operations.md)")
    return None


def _keyless_records(database_url: str, data_dir: Path) -> list[str]:
    """The ids of the records the database holds, not erased, whose record key `data_dir` lacks."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            keys = data_dir / record_keys.DIRECTORY
            return sorted(r for r in erasure.keyed_records(connection) if not record_keys.has_key(keys, r))
    except DBAPIError as exc:
        raise BackupError(f"the database cannot be read: {str(exc.orig).splitlines()[0][:200]}; restore it "
                          "first (docs/operations.md)") from None
    finally:
        engine.dispose()


def _data_files(settings: Settings) -> Iterator[str]:
    """Every file of the data directory but the database's own, relative to it, sorted."""
    sqlite_file = _sqlite_file(settings.database_url)
    skipped = {sqlite_file.name + s for s in ("", *_SQLITE_SIDECARS)} if sqlite_file else set()
    for path in sorted(settings.data_dir.rglob("*")):
        relative = path.relative_to(settings.data_dir)
        if path.is_file() and not path.is_symlink() and path.name not in skipped \
                and not any(part.startswith(".") for part in relative.parts):
            yield relative.as_posix()


def _copy_sqlite(source: Path, destination: Path) -> None:
    if not source.exists():
        raise BackupError(f"{source} does not exist: start the server once, or check CONSENTRY_DATABASE_URL")
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(destination)) as copy:
        live.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    with open(destination, "rb+") as f:
        os.fsync(f.fileno())


def _ledger_size(database: Path) -> tuple[int, int | None]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            reader = LedgerReader(connection)
            latest = reader.latest_checkpoint()
            return reader.size(), latest.size if latest else None
    finally:
        engine.dispose()


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory database has nothing to back up")
    return Path(parsed.database)


def _sha256(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        raise BackupError(f"{path} is missing from the backup") from None


def _inside(name: object) -> bool:
    return isinstance(name, str) and bool(name) and not name.startswith("/") and ".." not in Path(name).parts
