"""Where a vault is: the `.amos/` folder that marks one, found as git finds `.git/`.

Kept apart from `vault` (which reads settings) so that a warm `amosvault search` can find its
vault with nothing but `pathlib` imported.
"""

from __future__ import annotations

from pathlib import Path

AMOS_DIR = ".amos"


def locate_vault(start: Path) -> Path | None:
    """The first folder from ``start`` upwards holding `.amos/`, or None."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / AMOS_DIR).is_dir():
            return folder
    return None
