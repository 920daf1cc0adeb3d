"""The server reads time only through `consentry.services.clock`, so its source changes in one place.

Client-side code (the CLI, the SDK, a caller minting its own token) keeps the system time: it is
not the server deciding or recording anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
CLIENT_SIDE = ("cli", "sdk")
# (file, function) pairs that run on the client although their module also serves the server.
CLIENT_FUNCTIONS = {("identity/tokens.py", "token")}
SYSTEM_TIME = {("time", "time"), ("time", "time_ns"), ("datetime", "now"), ("datetime", "utcnow"),
               ("datetime", "today"), ("date", "today")}


def time_reads(source: str) -> list[tuple[int, str, str]]:
    """(line, enclosing function, call) for every direct read of the system time."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                owner = child.func.value
                name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
                if (name, child.func.attr) in SYSTEM_TIME:
                    found.append((child.lineno, function, f"{name}.{child.func.attr}()"))
            visit(child, function)

    visit(ast.parse(source), "<module>")
    return found


def test_the_server_reads_time_through_the_clock():
    found = []
    for path in sorted(SERVICES.rglob("*.py")):
        relative = path.relative_to(SERVICES).as_posix()
        if relative == "clock.py" or relative.split("/")[0] in CLIENT_SIDE:
            continue
        found += [f"services/{relative}:{line} {call} in {function}"
                  for line, function, call in time_reads(path.read_text())
                  if (relative, function) not in CLIENT_FUNCTIONS]
    assert found == []


def test_a_direct_read_is_found():
    source = ("import time\nfrom datetime import datetime, timezone\n"
              "def f():\n    return time.time_ns()\n"
              "class C:\n    def g(self):\n        return datetime.now(timezone.utc)\n"
              "STARTED = time.time()\n")
    assert time_reads(source) == [(4, "f", "time.time_ns()"), (7, "g", "datetime.now()"),
                                  (8, "<module>", "time.time()")]
