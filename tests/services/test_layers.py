"""Every import in services/ runs downward through the rooms; ledger/ and policy/ stand alone.

    root (config, clock, errors) < store < identity, crypto < domain < api < cli

A room imports itself and the rooms below it, never a room above or a peer on its own floor
(identity and crypto stay independent). The SDK is what a partner institution installs, so it
imports only the root, crypto, identity.tokens, the ledger and the generated stubs, and only the
CLI imports it. ledger/ and policy/ are libraries the service uses; they import nothing from it.
The imports are read with `ast`, including those inside functions, so nothing is imported here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = "consentry.services"
FLOORS = {"root": 0, "store": 1, "identity": 2, "crypto": 2, "domain": 3, "api": 4, "cli": 5}
SDK_MAY_IMPORT = ("consentry.services.crypto", "consentry.services.identity.tokens", "consentry.ledger", "consentry.v1")


def module_name(path: Path, top: str, package: str) -> str:
    """The import name of a file under the folder `top`, installed as `package`."""
    parts = list(path.relative_to(REPO / top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def imports(module: str, source: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, imported name) for every import in `source`; `from a import b` yields a.b, which
    lies in the room of a whether b is a module or a name defined in a."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing package
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, base if alias.name == "*" else f"{base}.{alias.name}") for alias in node.names]
    return found


def room(module: str) -> str | None:
    """The room of a consentry.services module; None for anything outside services/."""
    if module != SERVICES and not module.startswith(SERVICES + "."):
        return None
    first = module[len(SERVICES) + 1:].split(".")[0]
    return first if first in FLOORS or first == "sdk" else "root"


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def upward(importer: str, imported: str) -> str | None:
    """Why importing `imported` from `importer` breaks the layering, or None if it does not."""
    here, there = room(importer), room(imported)
    if here == "sdk":  # the stubs and the ledger are outside services/, so checked here
        if there in (None, "root", "sdk") and not within(imported, "consentry.policy"):
            return None
        if there is not None and within(imported, *SDK_MAY_IMPORT):
            return None
        return "the SDK imports only the root, crypto, identity.tokens, the ledger and the stubs"
    if there is None or here == there:
        return None
    if here is None:
        return f"{importer.split('.')[1]}/ imports nothing from services/"
    if there == "sdk":
        return None if here == "cli" else "only the CLI imports the SDK"
    if FLOORS[there] > FLOORS[here]:
        return f"{here} sits below {there}"
    if FLOORS[there] == FLOORS[here]:
        return f"{here} and {there} are peers on one floor"
    return None


def violations(importer: str, source: str, is_package: bool = False) -> list[str]:
    return [f"{importer}:{line} imports {imported}: {why}"
            for line, imported in imports(importer, source, is_package)
            if imported.startswith("consentry.") and (why := upward(importer, imported))]


def modules(top: str, package: str) -> list[tuple[str, Path]]:
    return [(module_name(p, top, package), p) for p in sorted((REPO / top).rglob("*.py"))]


ALL = modules("services", SERVICES) + modules("ledger", "consentry.ledger") + modules("policy", "consentry.policy")


def test_every_import_runs_downward():
    found = [v for name, path in ALL for v in violations(name, path.read_text(), path.name == "__init__.py")]
    assert found == []


def test_every_room_was_read():
    rooms = {room(name) for name, _ in ALL} - {None}
    assert rooms == {*FLOORS, "sdk"}
    assert {name.split(".")[1] for name, _ in ALL} == {"services", "ledger", "policy"}


@pytest.mark.parametrize(("importer", "source"), [
    ("consentry.services.store.db", "from consentry.services.api.app import App"),
    ("consentry.services.store.db", "from consentry.services.store import idempotency\n"
                                    "def f():\n    from consentry.services.domain import consents"),
    ("consentry.services.clock", "import consentry.services.store.models"),
    ("consentry.services.identity.auth", "from consentry.services.crypto import share"),
    ("consentry.services.domain.records", "from consentry.services import cli"),
    ("consentry.services.api.server", "from consentry.services.sdk.client import Client"),
    ("consentry.services.sdk.client", "from consentry.services.identity.auth import Authenticator"),
    ("consentry.services.sdk.client", "from consentry.services.store.db import Database"),
    ("consentry.services.sdk.client", "from consentry.policy import load_engine"),
    ("consentry.ledger.db.writer", "from consentry.services.clock import now_rfc3339"),
    ("consentry.policy.engine", "import consentry.services.errors"),
    ("consentry.services.store.db", "from ..api import app"),
])
def test_an_upward_import_is_named(importer, source):
    [found] = violations(importer, source)
    assert found.startswith(importer + ":")


@pytest.mark.parametrize(("importer", "source"), [
    ("consentry.services.api.exchange", "from consentry.services.domain import disclosure"),
    ("consentry.services.domain.erasure", "from consentry.services.identity.acting_for import acting_for"),
    ("consentry.services.crypto.kek_rotation", "from consentry.services.store.db import Database"),
    ("consentry.services.store.db", "from consentry.services.errors import Unavailable\nfrom . import models"),
    ("consentry.services.cli.main", "from consentry.services.sdk.client import Client"),
    ("consentry.services.sdk.client", "from consentry.services.identity.tokens import Caller\n"
                                      "from consentry.services.crypto.share import open_share\n"
                                      "from consentry.services import clock\n"
                                      "from consentry.ledger.merkle import verify_inclusion\n"
                                      "from consentry.v1 import audit_pb2"),
])
def test_a_downward_import_passes(importer, source):
    assert violations(importer, source) == []


def test_the_database_knows_no_request_feature():
    """Transactions offer hooks (`Database.on_write`); the API layer registers idempotency's."""
    source = (REPO / "services" / "store" / "db.py").read_text()
    named = [name for _, name in imports("consentry.services.store.db", source)]
    assert named and not [name for name in named if within(name, "consentry.services.store.idempotency")]
