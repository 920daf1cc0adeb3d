"""One worker process of `consentry serve --workers N`, started by cli/workers.py: a full
server on the port it shares with its siblings.

It tells its parent it serves with one JSON line on stdout (its listeners and web address),
stops on SIGTERM (the parent turns Ctrl-C into one) and also when its parent is gone, which it
sees as the end of its stdin: no worker outlives the `serve` that started it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from consentry.services.api import call_log
from consentry.services.api.server import Server
from consentry.services.api.transport import ListenError
from consentry.services.cli.server import start
from consentry.services.cli.workers import READY
from consentry.services.config import Settings


def main(argv: list[str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, once
    call_log.configure(args.log_level)
    config = Settings.load(args.data_dir)
    if args.insecure_plaintext:
        config = dataclasses.replace(config, insecure_plaintext=True)
    try:
        server = start(config, args.listen, listen_without_client_cert=args.listen_without_client_cert,
                       http=args.http, shared_port=True, cuts_checkpoints=args.cuts_checkpoints)
    except ListenError as exc:
        print(f"consentry serve: worker {os.getpid()}: {exc}", file=sys.stderr)
        return 1
    stop = _stopper(server)
    signal.signal(signal.SIGTERM, lambda *_: stop())
    threading.Thread(target=_stop_when_orphaned, args=(stop,), name="parent-watch", daemon=True).start()
    _report_ready(server)
    server.wait()
    return 0


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consentry serve (worker)")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--listen-without-client-cert")
    parser.add_argument("--http")
    parser.add_argument("--cuts-checkpoints", action="store_true")
    parser.add_argument("--insecure-plaintext", action="store_true")
    parser.add_argument("--log-level", choices=call_log.LEVELS, default="INFO")
    return parser


def _stopper(server: Server) -> Callable[[], None]:
    """`server.stop` once, whoever asks first; a second ask (a signal arriving while the main
    thread is already stopping) returns at once instead of waiting on the first."""
    first = threading.Lock()

    def stop() -> None:
        if first.acquire(blocking=False):
            server.stop()

    return stop


def _stop_when_orphaned(stop: Callable[[], None]) -> None:
    while os.read(sys.stdin.fileno(), 512):  # unbuffered: no lock left held at exit
        pass  # the end of the file is the parent's exit
    stop()


def _report_ready(server: Server) -> None:
    ready = {"pid": os.getpid(), "listeners": [str(listener) for listener in server.listeners],
             "web": server.web.url if server.web is not None else None}
    sys.stdout.write(READY.decode() + json.dumps(ready) + "\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nothing more for the parent's pipe, which nobody reads


if __name__ == "__main__":
    sys.exit(main())
