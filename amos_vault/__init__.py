"""amos-vault: local-first memory for AI conversations, kept in Markdown files you own.

Importing the package stays cheap: the public names are loaded on first use. Import them from
here (``from amos_vault import ActiveMirror, MemoryQuery, Hook``): where each lives inside the
package (its layer folders) may change; these names do not.
"""

from __future__ import annotations

# `typing` is not imported at run time: these modules are on the warm search path
# (`interfaces/cli/warm.py`), where its import alone costs more than the rest.
TYPE_CHECKING = False

__version__ = "0.1.0"

if TYPE_CHECKING:
    from typing import Any

    from amos_vault.answer.hooks import Hook
    from amos_vault.core.errors import AmosError
    from amos_vault.files.sessionfile import Message
    from amos_vault.index.query import MemoryQuery
    from amos_vault.mirror import ActiveMirror
    from amos_vault.sessions.manager import SessionManager
    from amos_vault.sessions.session import Session

_EXPORTS = {
    "ActiveMirror": "amos_vault.mirror",
    "Session": "amos_vault.sessions.session",
    "SessionManager": "amos_vault.sessions.manager",
    "Message": "amos_vault.files.sessionfile",
    "AmosError": "amos_vault.core.errors",
    "MemoryQuery": "amos_vault.index.query",
    "Hook": "amos_vault.answer.hooks",
}

__all__ = [
    "ActiveMirror",
    "AmosError",
    "Hook",
    "MemoryQuery",
    "Message",
    "Session",
    "SessionManager",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'amos_vault' has no attribute {name!r}")
