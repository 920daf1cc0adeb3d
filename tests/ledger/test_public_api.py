"""The ledger's public API: what it exports, what it needs, and that the service keeps to it."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import consentry.ledger
import consentry.ledger.db
import consentry.services

PUBLIC_MODULES = [consentry.ledger, consentry.ledger.db]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)


def test_package_is_standalone():
    done = run_python("""
        import sys, consentry.ledger, consentry.ledger.db
        bad = [m for m in sys.modules if m.startswith(('grpc', 'consentry.services', 'consentry.policy'))]
        assert not bad, bad
    """)
    assert done.returncode == 0, done.stderr


def test_verifier_works_without_sqlalchemy():
    """An auditor's environment: SQLAlchemy cannot be imported, the verifier still works."""
    done = run_python("""
        import sys

        class RefuseSqlalchemy:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "sqlalchemy":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, RefuseSqlalchemy())
        try:
            import sqlalchemy
        except ModuleNotFoundError:
            pass
        else:
            raise AssertionError("the refusal did not take")

        import consentry.ledger
        import consentry.ledger.verification
        import consentry.ledger.verify
        from consentry.ledger import NoteSigner, canonical_json, chain_hash, leaf_hash, sign_checkpoint
        from consentry.ledger.merkle import InMemoryTree

        prev, entries = bytes(32), []
        for seq in range(5):
            entry = canonical_json({"kind": "test", "n": seq, "seq": seq, "prev": prev.hex()})
            entries.append(entry)
            prev = chain_hash(prev, leaf_hash(entry))
        root = InMemoryTree([leaf_hash(e) for e in entries]).root()
        signer = NoteSigner.generate("consentry.test/ledger")
        note = sign_checkpoint(signer, "consentry.test/ledger", len(entries), root)
        checkpoint = consentry.ledger.verification.verify_log(
            entries, note, signer.verifier, origin="consentry.test/ledger", strict=True)
        assert (checkpoint.size, checkpoint.root) == (5, root), checkpoint
        try:
            consentry.ledger.verification.verify_log(entries[:2] + entries[3:], note, signer.verifier)
        except consentry.ledger.ChainError as exc:
            assert exc.seq == 2, exc
        else:
            raise AssertionError("a log with a missing entry verified")

        assert not [m for m in sys.modules if m.split(".")[0] == "sqlalchemy"]
        try:
            import consentry.ledger.db
        except ModuleNotFoundError as exc:
            assert exc.name.split(".")[0] == "sqlalchemy", exc
        else:
            raise AssertionError("the storage API imported without SQLAlchemy")
        print("verified", checkpoint.size)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "verified 5\n"


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_all_is_listed_by_hand_and_every_name_exists(module):
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    listed = [
        node.value for node in tree.body
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__all__"]
    ]
    assert len(listed) == 1 and isinstance(listed[0], ast.List), "__all__ is one literal list"
    names = [element.value for element in listed[0].elts]
    assert names == module.__all__ and len(set(names)) == len(names)
    assert [name for name in names if not hasattr(module, name)] == []


def test_tables_are_not_public():
    assert not {"ledger_entries", "ledger_nodes", "ledger_head", "ledger_checkpoints"} & set(
        consentry.ledger.db.__all__
    )


def test_service_uses_only_the_public_ledger_api():
    public = set(consentry.ledger.__all__) | set(consentry.ledger.db.__all__)
    services = Path(consentry.services.__file__).parent
    used, bad = set(), []
    for path in sorted(services.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(services)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                bad += [f"{where} import {a.name}" for a in node.names if a.name.startswith("consentry.ledger.db.")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("consentry.ledger"):
                if node.module.startswith("consentry.ledger.db."):
                    bad.append(f"{where} from {node.module}")
                for alias in node.names:
                    used.add(alias.name)
                    if alias.name not in public:
                        bad.append(f"{where} {node.module}.{alias.name}")
    assert bad == []
    assert {"LedgerReader", "LedgerWriter", "metadata"} <= used  # the scan did see the service's imports
