"""The policy files and data files an engine loads, and the revision that names them.

Revision = hex SHA-256 over, in this order, every ``policy/*.rego`` except ``*_test.rego``
(sorted by file name), then every ``policy/data/*.json`` (sorted by file name); each file
contributes ``relative path (UTF-8, "/" separators) || 0x00 || len(content) as 8-byte
big-endian || content``. The framing makes the hash unambiguous: renaming, moving bytes from one
file to the next, or adding an empty file all change it. Tests are left out because they never
influence a decision.

Each data file is mounted at ``data.consentry.<file stem>`` (e.g. duties.json ->
data.consentry.duties).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLICY_DIR = Path(__file__).resolve().parent
DATA_ROOT = "consentry"
PACKAGE = "consentry.authz"


@dataclass(frozen=True)
class Bundle:
    modules: tuple[tuple[str, str], ...]  # (relative path, Rego source)
    data: Mapping[str, Any]  # file stem -> parsed JSON document
    revision: str

    def data_document(self) -> dict[str, Any]:
        """The whole base document to load: {"consentry": {stem: document, ...}}."""
        return {DATA_ROOT: dict(self.data)}


def load_bundle(root: Path = POLICY_DIR) -> Bundle:
    rego = sorted(p for p in root.glob("*.rego") if not p.name.endswith("_test.rego"))
    data = sorted((root / "data").glob("*.json"))
    if not rego:
        raise FileNotFoundError(f"no Rego policy in {root}")
    digest = hashlib.sha256()
    contents: dict[Path, bytes] = {}
    for path in (*rego, *data):
        content = path.read_bytes()
        name = path.relative_to(root).as_posix().encode()
        digest.update(name + b"\0" + len(content).to_bytes(8, "big") + content)
        contents[path] = content
    return Bundle(
        modules=tuple((p.relative_to(root).as_posix(), contents[p].decode()) for p in rego),
        data={p.stem: json.loads(contents[p]) for p in data},
        revision=digest.hexdigest(),
    )
