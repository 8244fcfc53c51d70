"""The concurrency soak, short: the real daemon, an API writer, a CLI writer and an editor on
the same sessions for a few seconds; nothing written is lost, and the index converges.

The long run (the figures) is ``python scripts/soak.py concurrency``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_writers_and_an_editor_at_once_lose_nothing_and_the_index_converges(
    tmp_path: Path,
) -> None:
    figures_path = tmp_path / "figures.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "soak.py"),
            "concurrency",
            "--seconds",
            "8",
            "--sessions",
            "2",
            "--api-rate",
            "6",
            "--json",
            str(figures_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(figures_path.read_text())
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("concurrency: written=") and "converged=yes" in line
    # Every acknowledged message is in the files, except those an editor's own save replaced
    # in its check-to-rename window (listed one by one); search finds all that the files hold.
    assert set(figures["missing"]) <= set(figures["editor_clobbered_tokens"])
    assert figures["written"] > 0
    assert figures["found_by_search"] == figures["found_in_files"]
    assert figures["lost"] == [] and figures["duplicated"] == []
    assert figures["api"] > 0 and figures["cli"] > 0 and figures["editor_messages"] > 0
    assert figures["converged"] and figures["daemon_exit"] == 0
