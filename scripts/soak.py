"""Reliability figures, produced by commands anyone can run (issue: "prove it holds").

  python scripts/soak.py fuzz         [options]  generated inputs against the parsers, config,
                                                 queries and the daemon socket
  python scripts/soak.py crash        [options]  kill -9 the daemon while it indexes and
                                                 consolidates; compare with a fresh rebuild
  python scripts/soak.py concurrency  [options]  daemon + API writer + CLI writer + editor on
                                                 the same sessions; written vs found
  python scripts/soak.py faults       [options]  disk full, read-only vault, permission denied,
                                                 vault deleted under the daemon
  python scripts/soak.py all                     each of the above with its defaults

Each part lives in tests/soak/soak_<part>.py with a ``main(argv) -> int``; `--help` on a part
lists its options. Every part ends with one line of figures and exits 1 when a figure is not what it
must be. The test suite runs a short version of each part; these are the long ones.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

PARTS = ("fuzz", "crash", "concurrency", "faults")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in (*PARTS, "all"):
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(root), str(root / "tests" / "soak")]
    parts = PARTS if argv[0] == "all" else (argv[0],)
    rest = [] if argv[0] == "all" else argv[1:]
    failed = 0
    for part in parts:
        module = importlib.import_module(f"soak_{part}")
        code: int = module.main(rest)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
