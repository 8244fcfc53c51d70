"""`make demo`: create a vault and run a real example end to end, printing each step.

Usage: python scripts/demo.py [--vault PATH]   (default: a new temporary folder)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def run(vault: Path, *args: str, stdin: str | None = None) -> str:
    """Run `amosvault --vault VAULT ARGS`, echo the command and its output, return stdout."""
    shown = " ".join(shlex.quote(a) for a in args)
    print(f"\n$ amosvault {shown}" + ("   # text on stdin" if stdin else ""))
    proc = subprocess.run(
        [sys.executable, "-m", "amos_vault", "--vault", str(vault), *args],
        input=stdin or "",
        capture_output=True,
        text=True,
    )
    sys.stdout.write(proc.stdout)
    sys.stdout.write(proc.stderr)
    if proc.returncode not in (0,) and args[0] != "pause":
        raise SystemExit(f"demo step failed with exit status {proc.returncode}")
    return proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vault", type=Path, help="vault folder (created if missing)")
    options = parser.parse_args()
    vault = options.vault or Path(tempfile.mkdtemp(prefix="amos-demo-")) / "vault"
    if options.vault is None:
        # Keep the demo's key away from the user's real config folder.
        os.environ.setdefault("XDG_CONFIG_HOME", str(vault.parent / "config"))

    print(f"amos-vault demo: a vault at {vault}")
    run(vault, "init", str(vault), "--name", "Demo User")
    made = json.loads(run(vault, "new", "Plan a trip to Lisbon", "--tag", "travel", "--json"))
    trip = made["id"]
    run(vault, "add", trip, "I want three days in Lisbon in May. I love seafood and hate crowds.")
    run(
        vault,
        "add",
        trip,
        "--role",
        "assistant",
        "--meta",
        "model=none (demo)",
        stdin="Here is a plan:\n\n## Day 1\n- Alfama early, before the crowds\n\n"
        "## Day 2\n- Belém, then grilled sardines\n\n```\n---\nnot front-matter\n---\n```\n",
    )
    run(vault, "pause", trip)
    run(vault, "pause", trip)  # refused: it is already paused
    run(vault, "resume", trip)
    run(vault, "add", trip, "Book the Alfama walk for the first morning.")
    follow = json.loads(
        run(vault, "new", "Lisbon restaurants", "--parent", trip[:6], "--tag", "travel", "--json")
    )
    run(vault, "add", follow["id"], "Which seafood places did we shortlist?")
    run(vault, "link", follow["id"], trip)
    run(vault, "complete", trip)
    run(vault, "list")
    run(vault, "show", trip)

    path = vault / made["path"]
    print(f"\n$ cat {made['path']}   # the file itself: plain Markdown, opens in Obsidian")
    print(path.read_text(), end="")

    run(vault, "export", follow["id"], "--format", "txt")
    run(vault, "doctor")

    print("\n# Search: full text and meaning together, offline (the model came from PyPI).")
    run(vault, "index")
    run(vault, "search", "where should we eat fish", "-k", "3")
    run(vault, "search", "avoid busy places", "-k", "2", "--kind", "message")

    print("\n# Ask: with no language model running, the answer is cited evidence from the vault.")
    run(vault, "ask", "where should I eat in Lisbon?")

    print("\n# The same vault through the Python API:")
    code = (
        "from amos_vault import ActiveMirror\n"
        f"mirror = ActiveMirror({str(vault)!r})\n"
        "s = mirror.create_session('From Python', tags=['api'])\n"
        "m = s.add_message('user', 'Remember that I prefer window seats.')\n"
        "print(s.id, s.status, s.link_to(m))\n"
        "print([x.title for x in mirror.list_sessions(tag='travel')])\n"
        "from amos_vault.index.query import MemoryQuery\n"
        "hit = mirror.search(MemoryQuery('seat preference on planes', k=1)).hits[0]\n"
        "print(hit.text, hit.link)\n"
        "sig = mirror.sign({'session': s.id})\n"
        "print('signature verifies:', mirror.verify({'session': s.id}, sig))\n"
    )
    print("\n".join(f">>> {line}" for line in code.splitlines()))
    subprocess.run([sys.executable, "-c", code], check=True)
    print(f"\nDone. Open {vault} in any editor or in Obsidian to read the files.")


if __name__ == "__main__":
    main()
