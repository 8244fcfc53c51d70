"""Session commands: new, add, show, list, pause/resume/complete/archive, link, export,
delete."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from amos_vault.core.errors import InvalidInputError
from amos_vault.interfaces.cli.app import (
    SESSION,
    SINCE,
    UNTIL,
    VaultCommand,
    emit_json,
    load_session,
    main,
    open_mirror,
)


@main.command("new")
@click.argument("title")
@click.option("--parent", metavar=SESSION, help="Parent session (id, prefix or path).")
@click.option("--tag", "tags", multiple=True, help="Tag (repeatable).")
@click.option("--kind", type=click.Choice(["persistent", "ephemeral"]), default=None)
@click.option("--user-id", help="Application user this session belongs to.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def new_command(
    ctx: click.Context,
    title: str,
    parent: str | None,
    tags: tuple[str, ...],
    kind: str | None,
    user_id: str | None,
    as_json: bool,
) -> None:
    """Start a new session titled TITLE."""
    mirror = open_mirror(ctx)
    parent_session = load_session(ctx, parent) if parent else None
    session = mirror.create_session(
        title, parent=parent_session, tags=tags, kind=kind, user_id=user_id
    )
    if as_json:
        emit_json(session.to_dict())
        return
    click.echo(f"Created session {session.id}: {session.title}")
    if session.path:
        click.echo(f"  file: {session.relative_path}")
    else:
        click.echo("  ephemeral: kept in memory only, never written to the vault")


@main.command("add")
@click.argument("session_ref", metavar=SESSION)
@click.argument("content", required=False)
@click.option("--role", type=click.Choice(["user", "assistant", "system"]), default="user")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="Metadata (repeatable).")
@click.pass_context
def add_command(
    ctx: click.Context, session_ref: str, content: str | None, role: str, meta: tuple[str, ...]
) -> None:
    """Add a message to SESSION; the content comes from CONTENT or standard input."""
    if content is None or content == "-":
        if sys.stdin.isatty():
            click.echo("Type the message, then Ctrl-D:", err=True)
        content = sys.stdin.read().rstrip("\n")  # the newline that ends piped text
    if not content.strip():
        raise InvalidInputError(
            "the message is empty", hint="give the text as an argument or on stdin"
        )
    metadata: dict[str, str] = {}
    for item in meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--meta")
        metadata[key] = value
    session = load_session(ctx, session_ref)
    message = session.add_message(role, content, metadata or None)
    click.echo(f"Added {role} message {message.id} to {session.id}  {session.link_to(message)}")


@main.command("show")
@click.argument("session_ref", metavar=SESSION)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_command(ctx: click.Context, session_ref: str, as_json: bool) -> None:
    """Print a session: its details, then its messages."""
    from amos_vault.files.sessionfile import format_timestamp

    session = load_session(ctx, session_ref)
    if as_json:
        click.echo(session.export("json"), nl=False)
        return
    click.echo(click.style(session.title, bold=True))
    info = session.to_dict()
    for key in ("id", "status", "kind", "created", "updated", "path", "user_id", "parent_id"):
        if info.get(key):
            click.echo(f"  {key}: {info[key]}")
    if session.tags:
        click.echo(f"  tags: {', '.join(session.tags)}")
    for message in session.messages:
        click.echo()
        stamp = format_timestamp(message.timestamp)  # UTC with its Z, as in the file and JSON
        click.echo(click.style(f"[{stamp}] {message.role}", bold=True) + f"  ^{message.id}")
        click.echo(message.content)


@main.command("list")
@click.option("--status", type=click.Choice(["active", "paused", "completed", "archived"]))
@click.option("--tag")
@click.option("--user-id")
@click.option("--since", type=SINCE, help="Created on or after (YYYY-MM-DD or ISO 8601).")
@click.option("--until", type=UNTIL, help="Created on or before (YYYY-MM-DD or ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(
    ctx: click.Context,
    status: str | None,
    tag: str | None,
    user_id: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    as_json: bool,
) -> None:
    """List sessions, newest first."""
    from amos_vault.files.sessionfile import format_timestamp
    from amos_vault.sessions.listing import SessionFilter

    found, problems = open_mirror(ctx).sessions.scan()
    where = SessionFilter(status=status, tag=tag, user_id=user_id, since=since, until=until)
    sessions = where.apply(found)
    if as_json:
        emit_json([s.to_dict() for s in sessions])
    elif not sessions:
        click.echo("No sessions." if not found else "No session matches those filters.")
    else:
        rows = [
            (
                s.id,
                s.status,
                format_timestamp(s.created) if s.created else "",
                str(len(s.messages)),
                ",".join(s.tags),
                s.title,
            )
            for s in sessions
        ]
        heads = ("ID", "STATUS", "CREATED", "MSGS", "TAGS", "TITLE")
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads[:-1])]
        for row in [heads, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            click.echo("  ".join([*cells, row[-1]]))
    vault = open_mirror(ctx).vault
    for problem in problems[:UNREADABLE_SHOWN]:  # named, so a session never just vanishes
        line = f":{problem.error.line}" if problem.error.line else ""
        location = f"{vault.relative(problem.path)}{line}"
        click.echo(f"unreadable: {location}: {problem.error.message}", err=True)
    if problems:
        more = len(problems) - UNREADABLE_SHOWN
        click.echo(
            f"warning: {len(problems)} file(s) could not be read as sessions"
            + (f" ({more} more not shown)" if more > 0 else "")
            + "; run `amosvault doctor` for details",
            err=True,
        )


UNREADABLE_SHOWN = 10


def _lifecycle_command(action: str, past: str) -> click.Command:
    @click.command(action, cls=VaultCommand, help=f"{action.capitalize()} a session.")
    @click.argument("session_ref", metavar=SESSION)
    @click.pass_context
    def command(ctx: click.Context, session_ref: str) -> None:
        session = load_session(ctx, session_ref)
        getattr(session, action)()
        click.echo(f"Session {session.id} {past} (status: {session.status}).")

    return command


for _action, _past in (
    ("pause", "paused"),
    ("resume", "resumed"),
    ("complete", "completed"),
    ("archive", "archived"),
):
    main.add_command(_lifecycle_command(_action, _past))


@main.command("link")
@click.argument("child", metavar="CHILD")
@click.argument("parent", metavar="PARENT", required=False)
@click.option("--none", "unlink", is_flag=True, help="Remove CHILD's parent link.")
@click.pass_context
def link_command(ctx: click.Context, child: str, parent: str | None, unlink: bool) -> None:
    """Make PARENT the parent session of CHILD (or --none to unlink)."""
    if (parent is None) == (not unlink):
        raise click.UsageError("give either PARENT or --none")
    mirror = open_mirror(ctx)
    child_session = load_session(ctx, child)
    parent_session = load_session(ctx, parent) if parent else None
    mirror.link_sessions(child_session, parent_session)
    if parent_session is None:
        click.echo(f"Session {child_session.id} has no parent now.")
    else:
        chain = " <- ".join(s.id for s in reversed(child_session.lineage()))
        click.echo(f"Linked: {chain}")


@main.command("export")
@click.argument("session_ref", metavar="[S]", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "markdown", "txt", "zip"]),
    help="One session: json, markdown (default) or txt. The whole vault: json (default) or zip.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@click.pass_context
def export_command(
    ctx: click.Context, session_ref: str | None, fmt: str | None, output: Path | None
) -> None:
    """Export one session, or (without S) the whole vault: every session, every fact and the
    public identity, as json or as a zip of the files plus export.json."""
    from amos_vault.files.vault import atomic_write

    if session_ref is None:
        from amos_vault.admin.export import export_data, write_zip

        mirror = open_mirror(ctx)
        fmt = fmt or "json"
        if fmt == "zip":
            target = output or Path(f"amos-vault-export-{dt.date.today():%Y%m%d}.zip")
            count = write_zip(mirror, target.resolve())
            click.echo(f"Wrote {target} ({count} files)", err=True)
            return
        if fmt != "json":
            raise click.UsageError(
                "the whole vault exports as json or zip; give a session for " + fmt
            )
        text = json.dumps(export_data(mirror), indent=2, ensure_ascii=False) + "\n"
    else:
        if fmt == "zip":
            raise click.UsageError("zip exports the whole vault; leave out the session")
        text = load_session(ctx, session_ref).export(fmt or "markdown")
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write(output.resolve(), text.encode("utf-8"))
        click.echo(f"Wrote {output}", err=True)


@main.command("delete")
@click.argument("session_ref", metavar=SESSION)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete_command(ctx: click.Context, session_ref: str, yes: bool) -> None:
    """Delete a session's file (asks first unless --yes)."""
    session = load_session(ctx, session_ref)
    where = session.relative_path or "memory"
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("refusing to delete without confirmation; pass --yes")
        click.confirm(f"Delete session {session.id} ({session.title}) at {where}?", abort=True)
    open_mirror(ctx).delete_session(session.id)
    click.echo(f"Deleted session {session.id} ({where}).")
