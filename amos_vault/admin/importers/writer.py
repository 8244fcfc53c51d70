"""The one write path of every import: a conversation becomes sessions, once.

Each branch of a conversation (see `branches`) is one completed session. Its front-matter
says where it came from (``source: chatgpt:<conversation id>``, plus ``source_branch: <first
message id>`` for a branch other than the main one) and each message keeps its id in the
export as ``source_id`` metadata. That is what makes an import idempotent and incremental:
a conversation already imported gets only the messages its sessions do not hold yet,
appended after the last one they hold, through `SessionManager.update` (locked, re-read,
atomic), so a hand edit is never overwritten; the same export imported again writes nothing.

A conversation is checked whole before anything of it is written (its tree, the size of its
files); new sessions are written whole by `SessionManager.write_new`. An interrupted import
resumes where it stopped when run again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from amos_vault.admin.importers.branches import Branch, TreeError, split_branches
from amos_vault.admin.importers.common import (
    ExportConversation,
    ExportMessage,
    ImportReport,
    Problem,
)
from amos_vault.core.errors import AmosError, ParseError, StorageError
from amos_vault.files.integrity import CHECKSUM_KEY, session_checksum, sign_session
from amos_vault.files.links import wikilink
from amos_vault.files.sessionfile import (
    Message,
    SessionDocument,
    normalize_metadata,
    now_utc,
    read_session_file,
)
from amos_vault.sessions.manager import SessionManager
from amos_vault.sessions.session import Session

SOURCE_KEY = "source"
BRANCH_KEY = "source_branch"
FORK_KEY = "forked_at"
SOURCE_ID = "source_id"
# The export id of the last message of the branch already imported: a newer export appends
# only what comes after it, so messages you deleted from the end of a session stay deleted.
LAST_KEY = "source_last"
# A rough upper bound on the bytes a message takes beyond its text (header, metadata).
_MESSAGE_OVERHEAD = 400


@dataclass
class _Planned:
    """What one branch needs: a new session, or messages appended to its session."""

    branch: Branch
    new: list[ExportMessage]
    session: Session | None = None
    """Its session, when it was imported before."""
    through: str | None = None
    """The export id of the branch's last message (what the session has now seen)."""
    written: list[Message] = field(default_factory=list)


class ConversationWriter:
    """Writes conversations of one kind of export into a vault's sessions."""

    def __init__(
        self,
        sessions: SessionManager,
        report: ImportReport,
        *,
        dry_run: bool = False,
        since: dt.datetime | None = None,
    ) -> None:
        self.sessions = sessions
        self.report = report
        self.dry_run = dry_run
        self.since = since
        self._imported = self._find_imported(report.kind)
        self._seen: set[str] = set()

    def _find_imported(self, kind: str) -> dict[str, dict[str | None, str]]:
        """Sessions imported before from this kind of export: conversation source -> branch
        head (None: main) -> file path. Only their front-matter is kept in memory."""
        found: dict[str, dict[str | None, str]] = {}
        vault = self.sessions.vault
        for path in vault.iter_markdown(vault.sessions_dir):
            try:
                doc, _data = read_session_file(path, self.sessions.max_mb)
            except (ParseError, OSError):
                continue  # `amosvault doctor` reports unreadable files
            source = doc.meta.get(SOURCE_KEY)
            if isinstance(source, str) and source.startswith(f"{kind}:"):
                head = doc.meta.get(BRANCH_KEY)
                found.setdefault(source, {})[str(head) if head else None] = str(path)
        return found

    def add_problem(self, problem: Problem) -> None:
        """Record a conversation (or the rest of the export) that could not be imported."""
        self.report.problems.append(str(problem))
        if problem.conversation is not None:
            self.report.conversations_skipped["could not be imported"] += 1

    def write(self, conversation: ExportConversation) -> None:
        """Import one conversation: new sessions for branches not seen before, new messages
        appended to the sessions of those imported before."""
        report = self.report
        report.conversations += 1
        for text in conversation.problems:
            report.problems.append(str(Problem(text, conversation.id, conversation.title)))
        if self.since is not None and (conversation.last_activity() or self.since) < self.since:
            report.conversations_skipped["older than --since"] += 1
            return
        if conversation.kind != "jsonl":  # JSON lines may give a conversation in pieces
            if conversation.source in self._seen:
                self.add_problem(
                    Problem(
                        "appears twice in the export; the second copy is left out",
                        conversation.id,
                        conversation.title,
                    )
                )
                return
            self._seen.add(conversation.source)
        try:
            plans = self._plan(conversation)
        except StorageError:
            raise  # the disk is full or read-only: every other conversation would fail too
        except (TreeError, AmosError, OSError) as exc:
            problem = Problem(
                f"{exc}; nothing of it was written", conversation.id, conversation.title
            )
            self.add_problem(problem)
            return
        if not any(p.new for p in plans):
            report.sessions_unchanged += sum(1 for p in plans if p.session is not None)
            if not any(p.session for p in plans):
                report.conversations_skipped["nothing to import (empty or hidden)"] += 1
            return
        try:
            self._write_plans(conversation, plans)
        except StorageError:
            raise
        except (AmosError, OSError) as exc:  # e.g. a session file moved or over the size limit
            problem = Problem(
                f"{exc}; what was written of it is kept, and importing again completes it",
                conversation.id,
                conversation.title,
            )
            self.add_problem(problem)

    # -- planning --------------------------------------------------------------------------
    def _plan(self, conversation: ExportConversation) -> list[_Planned]:
        known: dict[str | None, Session] = {}
        for head, path in self._imported.get(conversation.source, {}).items():
            known[head] = self.sessions.resolve(path)
        followed = {
            head: {str(m.metadata.get(SOURCE_ID)) for m in s.messages} for head, s in known.items()
        }
        branches = split_branches(conversation, followed)
        _fill_times(conversation, branches)
        plans = []
        for branch in branches:
            session = known.get(branch.head)
            held = followed.get(branch.head, set())
            nodes = branch.nodes
            seen = held | ({str(session.front_matter.get(LAST_KEY))} if session else set())
            last = max((i for i, n in enumerate(nodes) if n.source_id in seen), default=-1)
            fresh = [n for n in nodes[last + 1 :] if n.source_id not in held]
            for node in fresh:
                if node.left_out:
                    self.report.messages_left_out[node.left_out] += 1
            new = [n for n in fresh if not n.left_out]
            through = nodes[-1].source_id if nodes else None
            plans.append(_Planned(branch, new, session, through))
            self._check_size(conversation, session, new)
        return plans

    def _check_size(
        self, conversation: ExportConversation, session: Session | None, new: list[ExportMessage]
    ) -> None:
        size = sum(len(n.text.encode()) + _MESSAGE_OVERHEAD for n in new)
        if session is not None and session.path is not None:
            size += session.path.stat().st_size
        limit = self.sessions.max_mb
        if size > limit * 2**20:
            raise _TooBig(
                f"a session of it would be about {size / 2**20:.1f} MiB, over the {limit:g} MiB "
                "limit for session files (raise sessions.max_file_mb in .amos/config.toml to "
                "import it)"
            )

    # -- writing ---------------------------------------------------------------------------
    def _write_plans(self, conversation: ExportConversation, plans: list[_Planned]) -> None:
        report = self.report
        by_id = {m.source_id: m for m in conversation.messages}
        anchors: dict[str, tuple[Session, str]] = {}  # source id -> (session, message id)
        of_branch: dict[int, Session] = {}
        for plan in plans:
            if plan.session is not None:
                of_branch[id(plan.branch)] = plan.session
                for message in plan.session.messages:
                    anchors[str(message.metadata.get(SOURCE_ID))] = (plan.session, message.id)
        for plan in plans:
            if not plan.new:
                if plan.session is not None:
                    report.sessions_unchanged += 1
                continue
            session: Session | None = plan.session
            if plan.session is not None:
                self._append(plan)
                report.sessions_updated += 1
                report.messages_appended += len(plan.written)
            else:
                session = self._create(conversation, plan, by_id, anchors, of_branch)
                report.sessions_created += 1
                report.branches_created += plan.branch.head is not None
                report.messages_created += len(plan.written)
            if session is not None:
                of_branch[id(plan.branch)] = session
                for message in plan.written:
                    anchors[_source(message)] = (session, message.id)
                if session.path is not None:
                    key = self._imported.setdefault(conversation.source, {})
                    key[plan.branch.head] = str(session.path)

    def _create(
        self,
        conversation: ExportConversation,
        plan: _Planned,
        by_id: dict[str, ExportMessage],
        anchors: dict[str, tuple[Session, str]],
        of_branch: dict[int, Session],
    ) -> Session | None:
        branch = plan.branch
        taken: set[str] = set()
        plan.written = [_message(node, taken) for node in plan.new]
        meta: dict[str, Any] = {"id": "", "title": _branch_title(conversation, branch)}
        if self.sessions.identity_id:
            meta["identity"] = self.sessions.identity_id
        meta.update(status="completed", kind="persistent")
        fork = _fork_anchor(branch, by_id, anchors)
        parent = fork[0] if fork else _parent_session(branch, of_branch)
        if parent is not None and parent.path is not None:
            meta["parent"] = parent.link
            meta["parent_id"] = parent.id
        first, last = plan.written[0].timestamp, plan.written[-1].timestamp
        created = first if branch.head is not None else conversation.created or first
        updated = max(last, conversation.updated or last) if branch.head is None else last
        meta.update(created=created, updated=updated, tags=["imported", conversation.kind])
        meta[SOURCE_KEY] = conversation.source
        if plan.through is not None:
            meta[LAST_KEY] = plan.through
        if branch.head is not None:
            meta[BRANCH_KEY] = branch.head
        if fork is not None and fork[0].path is not None:
            meta[FORK_KEY] = wikilink(self.sessions.vault.relative(fork[0].path), fork[1])
        if self.dry_run:
            return None
        return self.sessions.write_new(meta, plan.written, created)

    def _append(self, plan: _Planned) -> None:
        assert plan.session is not None
        signer = self.sessions.signer
        written: list[Message] = []

        def append(doc: SessionDocument) -> None:
            written.clear()
            held = {str(m.metadata.get(SOURCE_ID)) for m in doc.messages}
            signed = doc.meta.get(CHECKSUM_KEY) == session_checksum(doc)
            taken = {m.id for m in doc.messages}
            for node in plan.new:
                if node.source_id not in held:
                    message = _message(node, taken)
                    doc.append_message(message)
                    written.append(message)
            if written and plan.through is not None:
                doc.meta[LAST_KEY] = plan.through
            # Signed and unchanged since: still what the owner's key vouched for, plus the
            # new messages. A session edited since keeps its old signature, so `verify`
            # still reports the edit.
            if signed and written:
                sign_session(doc, signer)

        if self.dry_run:
            taken = {m.id for m in plan.session.messages}
            plan.written = [_message(node, taken) for node in plan.new]
            return
        self.sessions.update(plan.session, append)
        plan.written = written


class _TooBig(AmosError):
    """A conversation would make a session file over sessions.max_file_mb."""


def _source(message: Message) -> str:
    return str(message.metadata.get(SOURCE_ID))


def message_id(source_id: str, taken: set[str]) -> str:
    """A message id derived from its id in the export (the same on every import), not in
    ``taken``; it is added to ``taken``."""
    salt = 0
    while True:
        digest = hashlib.blake2b(f"{source_id}|{salt}".encode(), digest_size=4).hexdigest()
        candidate = f"m-{digest}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
        salt += 1


def _message(node: ExportMessage, taken: set[str]) -> Message:
    assert node.time is not None
    metadata = normalize_metadata({**node.metadata, SOURCE_ID: node.source_id})
    return Message(message_id(node.source_id, taken), node.role, node.text, node.time, metadata)


def _fill_times(conversation: ExportConversation, branches: list[Branch]) -> None:
    """A message without a time gets the time of the one before it (else the conversation's
    creation, else now): a session file needs one on every message."""
    by_id = {m.source_id: m for m in conversation.messages}
    fallback = conversation.created or conversation.updated or now_utc()
    for branch in branches:
        fork = by_id.get(branch.fork) if branch.fork else None
        last = fork.time if fork is not None and fork.time else fallback
        for node in branch.nodes:
            if node.time is None:
                node.time = last
            last = node.time


def _fork_anchor(
    branch: Branch, by_id: dict[str, ExportMessage], anchors: dict[str, tuple[Session, str]]
) -> tuple[Session, str] | None:
    """The session and message id of the last message written before ``branch`` forks."""
    node = branch.fork
    seen: set[str] = set()
    while node is not None and node not in seen:
        if node in anchors:
            return anchors[node]
        seen.add(node)
        parent = by_id.get(node)
        node = parent.parent if parent is not None else None
    return None


def _parent_session(branch: Branch, of_branch: dict[int, Session]) -> Session | None:
    parent = branch.parent
    while parent is not None:
        if id(parent) in of_branch:
            return of_branch[id(parent)]
        parent = parent.parent
    return None


def _branch_title(conversation: ExportConversation, branch: Branch) -> str:
    if branch.head is None:
        return conversation.title
    head = branch.nodes[0] if branch.nodes else None
    what = {"user": "edited prompt", "assistant": "regenerated answer"}.get(
        head.role if head is not None else "", "branch"
    )
    return f"{conversation.title} ({what})"
