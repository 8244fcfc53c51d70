"""Obsidian links to vault files: written one way, read in every way they were ever written.

Obsidian resolves ``[[name]]`` by exact path first, then a file of that name in the linking
note's folder, then the shortest path: two files named alike in other folders (a session and
an old summary of it, sessions in two months' folders) make a bare name ambiguous. So every
link amos-vault writes or prints names the file by its path inside the vault, without
``.md``: ``[[sessions/2026/12/2026-12-06-plan-1a2b#^m-1a2b3c4d]]``, which exactly one file
answers, wherever the link is written and whatever files come later. Links written by older
versions (a bare file name) are still read (see `link_parts`).
"""

from __future__ import annotations


def link_target(rel_path: str, block: str = "") -> str:
    """The target of a link to the vault file ``rel_path`` (forward slashes, ``.md`` or not),
    at the block ``block`` (``m-…`` or ``f-…``) when given: ``sessions/2026/12/x#^m-1a2b``."""
    target = rel_path.removesuffix(".md")
    return f"{target}#^{block.removeprefix('^')}" if block else target


def wikilink(rel_path: str, block: str = "") -> str:
    """An Obsidian link to the vault file ``rel_path`` (and its block): ``[[path#^id]]``."""
    return f"[[{link_target(rel_path, block)}]]"


def link_parts(link: str) -> tuple[str, str]:
    """``(file, block)`` of a link as written (``[[file#^id|alias]]``, ``file#^id``, ``file``,
    a vault path or a bare file name, with or without ``.md``): the file as written, without
    ``.md``, and the block id without ``^`` ("" when none)."""
    inner = link.strip()
    if inner.startswith("[[") and inner.endswith("]]"):
        inner = inner[2:-2]
    inner = inner.split("|", 1)[0].strip()
    file, _, block = inner.partition("#")
    return file.strip().removesuffix(".md"), block.strip().lstrip("^")
