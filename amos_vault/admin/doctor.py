"""`amosvault doctor`: check every file of a vault and report each problem with file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amos_vault.core.config import load_settings
from amos_vault.core.errors import AmosError
from amos_vault.files.identity import load_identity
from amos_vault.files.sessionfile import parse_session_bytes
from amos_vault.files.vault import Vault
from amos_vault.sessions.manager import SessionManager, unreadable_files


@dataclass(frozen=True)
class Problem:
    """One finding: where, what, and what to do."""

    path: str
    line: int | None
    message: str
    hint: str | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"path": self.path, "line": self.line, "message": self.message, "hint": self.hint}


def check_vault(vault: Vault) -> list[Problem]:
    """Every problem found in the vault's settings, identity, sessions and memory notes."""
    problems: list[Problem] = []

    def report(path: Path, error: AmosError) -> None:
        problems.append(Problem(_rel(vault, path), error.line, error.message, error.hint))

    try:
        load_settings(vault.root)
    except AmosError as exc:
        report(exc.path or vault.amos_dir / "config.toml", exc)
    try:
        load_identity(vault.identity_path)
    except AmosError as exc:
        report(vault.identity_path, exc)

    manager = SessionManager(vault)
    sessions, unreadable = manager.scan()
    for item in unreadable:
        report(item.path, item.error)
    by_id = {s.id: s for s in sessions}
    for session in sessions:
        assert session.path is not None
        for line, message in session._doc.problems:
            problems.append(Problem(_rel(vault, session.path), line, message))
        if session.parent_id and session.parent_id not in by_id:
            unreadable_parent = unreadable_files(session.parent_id, unreadable)
            if unreadable_parent:  # the link may well be right: the parent's file needs mending
                where = _rel(vault, unreadable_parent[0].path)
                message = (
                    f"parent session {session.parent_id} is not among the readable sessions; "
                    f"{where}, which cannot be read, is named for it"
                )
                hint = f"mend {where} (its own problem is listed), and keep this link"
            else:
                message = f"parent session {session.parent_id} does not exist"
                hint = (
                    f"link it to another parent, or unlink it: amosvault link {session.id} --none"
                )
            problems.append(
                Problem(
                    _rel(vault, session.path),
                    session._doc.key_line("parent_id"),
                    message,
                    hint,
                )
            )
        seen, current = {session.id}, session
        while current.parent_id in by_id:
            current = by_id[current.parent_id]
            if current.id in seen:
                problems.append(
                    Problem(
                        _rel(vault, session.path),
                        session._doc.key_line("parent_id"),
                        "its parent links form a cycle",
                        f"unlink one of them: amosvault link {session.id} --none",
                    )
                )
                break
            seen.add(current.id)
    for link in vault.outside_links(vault.root):
        problems.append(
            Problem(
                _rel(vault, link),
                None,
                "symlink points outside the vault; it is ignored",
                "move the file it points to into the vault, or delete the link",
            )
        )
    for path in vault.iter_markdown(vault.memory_dir):
        try:
            parse_session_bytes(path.read_bytes(), path)
        except AmosError as exc:
            report(path, exc)
    return sorted(problems, key=lambda p: (p.path, p.line or 0, p.message))


def _rel(vault: Vault, path: Path) -> str:
    try:
        return path.relative_to(vault.root).as_posix()
    except ValueError:
        return str(path)
