"""The `amosvault` command line, one module per command group; each command calls one
library function.

`app` holds the group itself (error handling, ``--vault`` before or after any command) and
the helpers the groups share; importing the groups below registers their commands on it.
"""

from amos_vault.interfaces.cli import (
    answers,
    importing,
    memory,
    runtime,
    search,
    sessions,
    team,
    vault,
)
from amos_vault.interfaces.cli.app import main

__all__ = [
    "answers",
    "importing",
    "main",
    "memory",
    "runtime",
    "search",
    "sessions",
    "team",
    "vault",
]
