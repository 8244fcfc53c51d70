"""The environment: the one place below the interfaces that reads environment variables.

Only `interfaces/` and `runtime/` read the environment themselves; everything else gets what it
needs as arguments. The exceptions live here, so they are few and visible: the defaults that
`ActiveMirror(root)` must share with the CLI (where keys and models live, the Ollama address,
the database URL), and the environment handed to a child process such as git.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def user_config_dir() -> Path:
    """The user's amos-vault config folder (XDG_CONFIG_HOME honoured); private keys live here."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "amos-vault"


def ollama_host_override() -> str | None:
    """OLLAMA_HOST, which overrides [llm] host as it does for Ollama's own tools."""
    return os.environ.get("OLLAMA_HOST") or None


def database_url_override() -> str | None:
    """AMOS_DATABASE_URL: the PostgreSQL engine's connection URL, kept out of the config file
    (it may hold a password); it overrides [index] url."""
    return os.environ.get("AMOS_DATABASE_URL") or None


def user_cache_dir() -> Path:
    """The user's amos-vault cache folder (XDG_CACHE_HOME honoured); models live here."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "amos-vault"


def child_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child process: this process's, with ``overrides`` set."""
    return {**os.environ, **overrides}
