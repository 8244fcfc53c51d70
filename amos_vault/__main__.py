"""`python -m amos_vault` behaves like `amosvault`."""

from amos_vault.interfaces.cli import run

run()
