"""``python -m consentry.ledger.verify DIR --key KEY [--state FILE] [--witness VKEY ...]
[--min-witnesses N] [--strict]``: the offline ledger verifier, needing only this library.

``consentry audit verify`` takes the same arguments and runs the same code (``verify_command.py``,
which says what they mean and how it exits). ``consentry.ledger`` never imports this module, so
``python -m`` runs it without runpy's warning about a module imported twice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .verify_command import VERIFY_HELP, VerifyOptions, export_source, run_verify


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m consentry.ledger.verify",
                                description="Verify an exported Consentry ledger (as consentry audit verify).")
    p.add_argument("source", metavar="DIR", type=Path, help=VERIFY_HELP["source"])
    p.add_argument("--key", required=True, help=VERIFY_HELP["--key"])
    p.add_argument("--state", type=Path, help=VERIFY_HELP["--state"])
    p.add_argument("--witness", dest="witnesses", action="append", default=[], metavar="VKEY",
                   help=VERIFY_HELP["--witness"])
    p.add_argument("--min-witnesses", type=int, metavar="N", help=VERIFY_HELP["--min-witnesses"])
    p.add_argument("--strict", action="store_true", help=VERIFY_HELP["--strict"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    options = VerifyOptions(args.key, args.state, args.witnesses, args.min_witnesses, args.strict)
    return run_verify(options, export_source(args.source))


if __name__ == "__main__":
    sys.exit(main())
