"""Two server processes on one PostgreSQL ledger: stories told through both at once leave one
gap-free, verifiable chain."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from backends import pg_schema
from cli_helpers import CONSENTRY, serve

pytestmark = pytest.mark.postgres


def test_two_servers_append_to_one_gap_free_chain(tmp_path):
    with pg_schema("two") as (url, _schema):
        env = {**os.environ, "CONSENTRY_DATABASE_URL": url}
        data = tmp_path / "data"  # both replicas hold the same keys, as replicas of one service do
        subprocess.run([*CONSENTRY, "init", "--data-dir", str(data)], check=True, capture_output=True, env=env)
        procs = []
        with open(tmp_path / "serve.log", "w") as log:
            try:
                # One after the other: the first runs the migrations. Each is kept as soon as it
                # serves, so the finally below stops it even if the next one fails to start.
                for _ in range(2):
                    procs.append(serve(data, log, env))  # noqa: PERF401
                targets = [t for _, t in procs] * 2  # two stories through each server, all at once
                with ThreadPoolExecutor(len(targets)) as pool:
                    runs = list(pool.map(lambda t: subprocess.run(
                        [*CONSENTRY, "demo", "--target", t, "--data-dir", str(data)],
                        capture_output=True, text=True, env=env, timeout=300), targets))
                for run in runs:
                    assert run.returncode == 0, run.stdout + run.stderr
                key = subprocess.run([*CONSENTRY, "audit", "key", "--data-dir", str(data)], check=True,
                                     capture_output=True, text=True, env=env).stdout.strip()
                for _, target in procs:  # each replica serves the same verified ledger
                    verify = subprocess.run(
                        [*CONSENTRY, "audit", "verify", "--target", target, "--data-dir", str(data), "--key", key,
                         "--state", str(tmp_path / f"trusted-{target.rsplit(':', 1)[1]}.note")],
                        capture_output=True, text=True, env=env, timeout=120)
                    assert verify.returncode == 0, verify.stdout + verify.stderr
                    size = int(verify.stdout.split("verified ")[1].split(" ")[0])
                    assert size >= 4 * 21  # every story's entries are in it (21 each)
            finally:
                for proc, _ in procs:
                    proc.terminate()
                    proc.wait(timeout=30)
