"""What `pip install consentry` gets: the files in the wheel, and dependency floors that import.

The wheel is built from a copy of the source tree (so the build leaves nothing in the checkout),
without build isolation: the setuptools that grpcio-tools (the dev extra) brings is used.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "gen" / "consentry" / "v1"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirement(name: str, extra: str | None = None) -> Requirement:
    listed = _project()["optional-dependencies"][extra] if extra else _project()["dependencies"]
    [found] = [r for r in map(Requirement, listed) if r.name == name]
    return found


def _floor(requirement: Requirement) -> str:
    [floor] = [spec.version for spec in requirement.specifier if spec.operator in (">=", "==")]
    return floor


def test_grpcio_floor_is_the_version_the_stubs_were_generated_with():
    generated = {re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", p.read_text()).group(1)
                 for p in STUBS.glob("*_pb2_grpc.py")}
    assert generated == {_floor(_requirement("grpcio-tools", "dev"))}
    # An older grpcio makes every *_pb2_grpc.py raise on import.
    for name in ("grpcio", "grpcio-status"):
        assert _floor(_requirement(name)) in generated, name


def test_protobuf_range_is_the_one_the_stubs_accept():
    gencode = {re.search(r"# Protobuf Python Version: ([\d.]+)", p.read_text()).group(1)
               for p in STUBS.glob("*_pb2.py")}
    [version] = gencode
    protobuf = _requirement("protobuf")
    # The runtime must be the gencode's major version and no older than the gencode.
    assert _floor(protobuf) == version
    assert f"<{int(version.split('.')[0]) + 1}" in str(protobuf.specifier)


def test_server_only_packages_are_not_in_the_base_install():
    base = {Requirement(r).name.lower() for r in _project()["dependencies"]}
    server = {Requirement(r).name.lower() for r in _project()["optional-dependencies"]["server"]}
    assert {"sqlalchemy", "alembic", "psycopg", "gordon-to-regorus", "opa-python-client"} <= server
    assert not base & server


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> set[str]:
    pytest.importorskip("setuptools", minversion="77")
    source = tmp_path_factory.mktemp("source") / "consentry"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis"))
    out = source.parent / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(source)], check=True, capture_output=True, timeout=300)
    [built] = out.glob("consentry-*.whl")
    with zipfile.ZipFile(built) as archive:
        return set(archive.namelist())


def test_wheel_has_the_policy_the_migrations_and_the_typed_stubs(wheel):
    """And the descriptor set reflection serves (services/api/reflection.py)."""
    policy = {f"consentry/policy/{p.name}" for p in (ROOT / "policy").glob("*.rego")
              if not p.name.endswith("_test.rego")}
    data = {f"consentry/policy/data/{p.relative_to(ROOT / 'policy' / 'data').as_posix()}"
            for p in (ROOT / "policy" / "data").rglob("*.json")}
    stubs = {f"consentry/v1/{p.name}" for p in STUBS.glob("*_pb2*.py*")} | {"consentry/v1/descriptors.binpb"}
    store = ROOT / "services" / "store"
    migrations = {f"consentry/services/store/{p.relative_to(store).as_posix()}"
                  for p in (store / "migrations").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert policy and data and any(s.endswith(".pyi") for s in stubs)
    assert {"consentry/policy/data/deposit/categories.json", "consentry/policy/data/valuesets/genetic.json"} <= data
    assert {"env.py", "script.py.mako"} <= {Path(m).name for m in migrations}
    assert policy | data | stubs | migrations <= wheel


def test_wheel_has_every_web_page_file(wheel):
    web = ROOT / "services" / "web"
    static = {f"consentry/services/web/{p.relative_to(web).as_posix()}" for p in (web / "static").rglob("*")
              if p.is_file()}
    assert {"consentry/services/web/static/auditor/index.html", "consentry/services/web/static/lib/merkle.js"} <= static
    assert static <= wheel


def test_wheel_has_no_test_code_or_test_data(wheel):
    assert not [n for n in wheel if n.endswith("_test.rego") or "regopy" in n or "/tables/" in n
                or n.startswith("tests/") or "/tests/" in n]
