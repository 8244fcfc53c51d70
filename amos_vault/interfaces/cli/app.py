"""The `amosvault` group: error handling, ``--vault`` (before or after any command), and the
helpers every command group shares.

This is a composition root: the only place (with the daemon) that reads environment variables
(`AMOS_VAULT`, `AMOS_DEBUG`) and the current folder. Library errors become one line on stderr
with what to do next, and exit status 1, here in one place. Heavy modules are imported inside
the commands that need them, so `amosvault --help` and `--version` stay fast.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import select
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from amos_vault import __version__
from amos_vault.core.errors import AmosError, InvalidInputError, storage_errno, storage_error
from amos_vault.interfaces.arguments import DATE_FORMS, parse_date
from amos_vault.interfaces.cli.render import discard_output, print_json

if TYPE_CHECKING:
    from amos_vault.mirror import ActiveMirror
    from amos_vault.runtime.client import VaultClient
    from amos_vault.sessions.session import Session

SESSION = "SESSION"  # metavar: an id, a unique id prefix, or a file path
VAULT_HELP = "Vault folder (default: $AMOS_VAULT, else the first folder above here with .amos/)."


def fail(message: str, hint: str | None = None) -> NoReturn:
    """Say what went wrong (and what to do next) on stderr, and exit with status 1."""
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"  {hint}", err=True)
    sys.exit(1)


def _remember_vault(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    # One dict shared by the whole command line: --vault given before the command and after
    # it land in the same place (the last one given wins).
    obj = ctx.ensure_object(dict)
    if value is not None:
        obj["vault"] = value


def _vault_option() -> click.Option:
    return click.Option(
        ["--vault"],
        type=click.Path(path_type=Path),  # a file is refused by Vault.open, in one line
        expose_value=False,
        callback=_remember_vault,
        help=VAULT_HELP,
    )


class VaultCommand(click.Command):
    """A command that takes ``--vault`` among its own options too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_vault_option())


def _reader_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (`| head`)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _flush_output() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left after the last line: nothing more to say
        discard_output()


class AmosGroup(click.Group):
    """Turns library errors into one clear line; tracebacks only with AMOS_DEBUG=1. Output
    cut short by its reader (`amosvault show S | head -1`) ends quietly, with status 0."""

    group_class = type  # subgroups (daemon, jobs, service, model) are AmosGroups too
    command_class = VaultCommand

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, its module imported only for ``--help``."""
        if self is main:
            return sorted(set(self.commands) | set(COMMAND_MODULES))
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """The command ``name``, importing just the module that defines it: a warm
        `amosvault search` loads the search commands, not the model or the scheduler."""
        if self is main and name not in self.commands and name in COMMAND_MODULES:
            importlib.import_module(f"amos_vault.interfaces.cli.{COMMAND_MODULES[name]}")
        return super().get_command(ctx, name)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_vault_option())

    def invoke(self, ctx: click.Context) -> Any:
        # A query's vector products are small: BLAS threads only contend with the embedding
        # model's (measured: a 0.5 ms product took 20-28 ms now and then). Set before numpy
        # is first imported (every heavy import happens inside a command).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        try:
            return self._invoke_reporting_errors(ctx)
        finally:
            _flush_output()  # a reader gone shows here, not as an error at interpreter exit

    def _invoke_reporting_errors(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except AmosError as exc:
            if os.environ.get("AMOS_DEBUG") == "1":
                raise
            fail(str(exc), exc.hint)
        except KeyboardInterrupt:
            fail("interrupted")
        except BrokenPipeError:
            if not _reader_gone():
                raise
            discard_output()
            sys.exit(0)
        except BaseException as exc:
            if storage_errno(exc) is not None and os.environ.get("AMOS_DEBUG") != "1":
                # Disk full, read-only, permission denied, folder gone: not a bug.
                error = storage_error(exc, writing=None)
                fail(str(error), error.hint)
            # BaseException: a panic inside a native extension (tantivy) arrives as one.
            if isinstance(exc, SystemExit | GeneratorExit) or os.environ.get("AMOS_DEBUG") == "1":
                raise
            fail(
                f"unexpected {type(exc).__name__}: {exc}",
                "this is a bug; rerun with AMOS_DEBUG=1 for the traceback and report it",
            )


# Which module of this package defines each top-level command (a test holds it complete).
COMMAND_MODULES = {
    **dict.fromkeys(("context", "ask", "chat"), "answers"),
    "import": "importing",
    **dict.fromkeys(("consolidate", "facts", "remember", "forget"), "memory"),
    **dict.fromkeys(("model", "daemon", "status", "service", "mcp", "jobs"), "runtime"),
    **dict.fromkeys(("index", "search"), "search"),
    **dict.fromkeys(("serve", "token"), "team"),
    "db": "database",
    **dict.fromkeys(
        ("new", "add", "show", "list", "pause", "resume", "complete", "archive", "link"),
        "sessions",
    ),
    **dict.fromkeys(("export", "delete"), "sessions"),
    **dict.fromkeys(("init", "doctor", "verify"), "vault"),
}


@click.group(cls=AmosGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="amosvault")
@click.pass_context
def main(ctx: click.Context) -> None:
    """amos-vault: local-first memory for AI conversations, in Markdown files you own."""
    ctx.ensure_object(dict)


# -- the vault -------------------------------------------------------------------------------
def named_vault(ctx: click.Context) -> Path | None:
    """The vault folder given by --vault or AMOS_VAULT, if any (not checked)."""
    named = ctx.ensure_object(dict).get("vault") or os.environ.get("AMOS_VAULT")
    return Path(named).expanduser() if named else None


def vault_root(ctx: click.Context) -> Path:
    """The vault's folder (--vault, AMOS_VAULT, or found above here), without opening it."""
    from amos_vault.files.vault import find_vault

    named = named_vault(ctx)
    return named.resolve() if named else find_vault(Path.cwd())


def client(ctx: click.Context) -> VaultClient:
    """The vault's client: its daemon when one runs, else the work in this process."""
    from amos_vault.runtime.client import VaultClient

    obj = ctx.ensure_object(dict)
    if "client" not in obj:
        # `warm` asked the daemon already, and it did not answer: do not wait for it twice.
        obj["client"] = VaultClient(vault_root(ctx), use_daemon=not obj.get("daemon_silent"))
    found: VaultClient = obj["client"]
    return found


def open_mirror(ctx: click.Context) -> ActiveMirror:
    """The `ActiveMirror` of the vault (opened once per command line)."""
    return client(ctx).mirror


def load_session(ctx: click.Context, ref: str) -> Session:
    """Resolve a session reference; a path that exists from here is taken as that file."""
    if ("/" in ref or ref.endswith(".md")) and Path(ref).exists():
        ref = str(Path(ref).resolve())
    return open_mirror(ctx).load_session(ref)


# -- output ----------------------------------------------------------------------------------
def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    print_json(data)


def print_notes(notes: Iterable[str]) -> None:
    """Print each note on stderr (``note: ...``)."""
    for note in notes:
        click.echo(f"note: {note}", err=True)


# -- arguments -------------------------------------------------------------------------------
if TYPE_CHECKING:
    _ParamType = click.ParamType[dt.datetime | None, Any]
else:  # click < 8.2: ParamType is not generic
    _ParamType = click.ParamType


class DateType(_ParamType):
    """A date option (``YYYY-MM-DD`` or ISO 8601) read by the one date parser; a bare date
    that bounds a range from above (``end_of_day``) means the end of that day."""

    name = "date"

    def __init__(self, *, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.datetime | None:
        if isinstance(value, dt.datetime):
            return value
        try:
            return parse_date(
                value, param.name if param and param.name else "date", end_of_day=self.end_of_day
            )
        except InvalidInputError:
            self.fail(f"{value!r} is not a date (use {DATE_FORMS})", param, ctx)


SINCE = DateType()
UNTIL = DateType(end_of_day=True)


def refresh_index(ctx: click.Context) -> None:
    """Bring the index up to date after memory files changed (the daemon does it if it runs)."""
    vault = client(ctx)
    if vault.refresh_index(wait=None) == "in-process":
        print_notes(vault.mirror.engine.notices)
