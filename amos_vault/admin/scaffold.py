"""Create a vault from the starter template, never overwriting an existing file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from amos_vault.files.identity import Identity, create_identity, load_identity, render_identity_note
from amos_vault.files.location import AMOS_DIR
from amos_vault.files.vault import ensure_dir, write_new_file


@dataclass
class InitReport:
    """What `init_vault` did."""

    root: Path
    identity: Identity
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def template_dir() -> Path:
    """The starter vault: inside the installed package, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "vault_template", package.parent / "vault_template"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("vault_template/ is missing from this installation of amos-vault")


def init_vault(root: Path, name: str, key_dir: Path) -> InitReport:
    """Create (or complete) a vault at ``root``: template files, folders, settings, identity.

    Existing files are kept as they are. The identity is created only when ``identity.md``
    does not exist; its private key goes to ``key_dir``, outside the vault.
    """
    root = root.expanduser().resolve()
    ensure_dir(root)
    files: dict[str, bytes] = {}
    template = template_dir()
    for source in sorted(template.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            files[source.relative_to(template).as_posix()] = source.read_bytes()
    for folder in ("sessions", "memory", AMOS_DIR):
        ensure_dir(root / folder)

    identity_path = root / "identity.md"
    if identity_path.exists():
        identity = load_identity(identity_path)
    else:
        identity = create_identity(name, key_dir)
        files["identity.md"] = render_identity_note(identity)

    report = InitReport(root=root, identity=identity)
    for relative, data in files.items():
        written = write_new_file(root / relative, data)
        (report.created if written else report.kept).append(relative)
    return report
