"""The `amosvault` command line, one module per command group; each command calls one
library function.

`app` holds the group itself (error handling, ``--vault`` before or after any command) and
the helpers the groups share. A command's module is imported when the command runs
(`app.COMMAND_MODULES`), so a warm call loads only what it needs.
"""

from amos_vault.interfaces.cli.app import main

__all__ = ["main"]
