"""A conversation's message tree, split into branches: one session each.

ChatGPT keeps every edited prompt and regenerated answer: its messages form a tree. The branch
from the root to the message the export shows last (``current_node``) is the main branch; every
other child of a message on a branch starts a branch of its own, which forks there. A branch
already imported keeps following the messages its session holds, so a newer export in which
the user went back to an older branch still appends to the right sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from amos_vault.admin.importers.common import ExportConversation, ExportMessage


class TreeError(ValueError):
    """The parent links of a conversation do not form a tree (a cycle)."""


@dataclass
class Branch:
    """One path through a conversation: from its first message (``head``) to a leaf."""

    head: str | None
    """The source id of its first message; None for the main branch (which starts at the
    root). Its session records it as ``source_branch``."""
    nodes: list[ExportMessage]
    """Its messages in order, those left out included."""
    parent: Branch | None = None
    """The branch it forks from (None for the main branch and for linear conversations)."""
    fork: str | None = None
    """The source id of the last message it shares with its parent branch."""


def split_branches(
    conversation: ExportConversation, followed: Mapping[str | None, set[str]]
) -> list[Branch]:
    """The branches of ``conversation``, the main one first and each after its parent.

    ``followed`` maps the head of each branch imported before (None: the main branch) to
    the source ids of its session's messages: such a branch follows the messages it holds.
    Raises `TreeError` for a cycle in the parent links.
    """
    messages = conversation.messages
    if not conversation.tree:
        return [Branch(None, list(messages))]
    by_id = {m.source_id: m for m in messages}
    _check_acyclic(by_id)
    children: dict[str | None, list[str]] = {}
    for message in messages:
        above = message.parent if message.parent in by_id else None
        children.setdefault(above, []).append(message.source_id)
    roots = children.get(None, [])
    if not roots:
        return []
    current = conversation.current if conversation.current in by_id else None
    on_main: set[str] = set()
    node = current
    while node is not None:
        on_main.add(node)
        node = by_id[node].parent if by_id[node].parent in by_id else None
    main_root = next((r for r in roots if r in on_main), roots[0])

    def follow(first: str, head: str | None, parent: Branch | None, fork: str | None) -> Branch:
        branch = Branch(head, [], parent, fork)
        held = followed.get(head, set())
        node: str | None = first
        while node is not None:
            branch.nodes.append(by_id[node])
            kids = children.get(node, [])
            if not kids:
                break
            chosen = next(
                (k for k in kids if k in held),
                next((k for k in kids if k in on_main), kids[-1]),
            )
            pending.extend((kid, branch, node) for kid in reversed(kids) if kid != chosen)
            node = chosen
        return branch

    pending: list[tuple[str, Branch | None, str | None]] = []
    main = follow(main_root, None, None, None)
    pending.extend((root, main, None) for root in reversed(roots) if root != main_root)
    branches = [main]
    while pending:
        head, forks_from, fork = pending.pop()
        branches.append(follow(head, head, forks_from, fork))
    return branches


def _check_acyclic(by_id: Mapping[str, ExportMessage]) -> None:
    done: set[str] = set()
    for start in by_id:
        path: list[str] = []
        seen: set[str] = set()
        node: str | None = start
        while node is not None and node in by_id and node not in done:
            if node in seen:
                raise TreeError(f"its message tree has a cycle: message {node} is its own ancestor")
            seen.add(node)
            path.append(node)
            node = by_id[node].parent
        done.update(path)
