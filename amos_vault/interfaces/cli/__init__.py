"""The `amosvault` command line, one module per command group; each command calls one
library function.

`app` holds the group itself (error handling, ``--vault`` before or after any command) and
the helpers the groups share. A command's module is imported when the command runs
(`app.COMMAND_MODULES`), so a warm call loads only what it needs; `run` (the program) first
offers the command line to `warm`, which answers a plain search through the daemon without
importing click at all.
"""

from __future__ import annotations

import sys

# `typing` is not imported at run time: these modules are on the warm search path
# (`interfaces/cli/warm.py`), where its import alone costs more than the rest.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from amos_vault.interfaces.cli.app import main

__all__ = ["main", "run"]


def run() -> None:
    """The `amosvault` program: the warm path when it applies, else the full command line."""
    from amos_vault.interfaces.cli import warm

    try:
        done = warm.answer_from_daemon(sys.argv[1:])
    except KeyboardInterrupt:  # as the full command line says it
        sys.stderr.write("error: interrupted\n")
        sys.exit(1)
    if done == warm.ANSWERED:
        return
    from amos_vault.interfaces.cli.app import main

    main(prog_name="amosvault", obj={"daemon_silent": done == warm.DAEMON_SILENT})


def __getattr__(name: str) -> Any:
    # `main` (the click group) is imported on first use, so `run` starts without click.
    if name == "main":
        from amos_vault.interfaces.cli.app import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
