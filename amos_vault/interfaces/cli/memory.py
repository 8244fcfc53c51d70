"""Memory commands: consolidate, facts, remember, forget."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from amos_vault.interfaces.cli.app import (
    SESSION,
    UNTIL,
    emit_json,
    main,
    open_mirror,
    refresh_index,
)


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
    mirror = open_mirror(ctx)

    def show(plan: Any) -> None:
        if not (quiet or as_json):
            _print_diff(plan.diff())

    plan = mirror.memory.consolidate(
        [session_ref] if session_ref else None, engine=engine, dry_run=dry_run, show=show
    )
    if not dry_run and not plan.is_empty:
        refresh_index(ctx)
    if as_json:
        emit_json(
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
    if not plan.sessions and not plan.tombstoned and not plan.renamed:
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
@click.option(
    "--as-of",
    "as_of",
    type=UNTIL,
    help="The facts that held on that day (YYYY-MM-DD), by their valid_from and valid_to.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def facts_command(
    ctx: click.Context,
    include_closed: bool,
    fact_type: str | None,
    as_of: dt.datetime | None,
    as_json: bool,
) -> None:
    """List the facts in the memory notes (with --as-of DATE: those that held then)."""
    day = as_of.astimezone(dt.UTC).date() if as_of else None
    facts = open_mirror(ctx).memory.facts(include_closed=include_closed, as_of=day)
    facts = [f for f in facts if fact_type is None or f.type == fact_type]
    if as_json:
        emit_json(
            [
                {
                    "id": f.id,
                    "text": f.text,
                    "type": f.type,
                    "confidence": f.confidence,
                    "sources": list(f.sources),
                    "first_seen": f.first_seen.isoformat() if f.first_seen else None,
                    "last_confirmed": f.last_confirmed.isoformat() if f.last_confirmed else None,
                    "valid_from": f.valid_from.isoformat() if f.valid_from else None,
                    "valid_to": f.valid_to.isoformat() if f.valid_to else None,
                    "note": f.note,
                    "line": f.line,
                }
                for f in facts
            ]
        )
        return
    if not facts and day is not None:
        click.echo(f"No fact held on {day}.")
        return
    if not facts:
        click.echo("No facts yet: `amosvault consolidate` learns them from your sessions.")
        return
    for f in facts:
        closed = f" (closed {f.valid_to})" if not (f.valid_on(day) if day else f.current) else ""
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
    mirror = open_mirror(ctx)
    fact = mirror.memory.remember(text, type=fact_type, confidence=confidence, source=source)
    refresh_index(ctx)
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
    mirror = open_mirror(ctx)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("refusing to forget without confirmation; pass --yes")
        click.confirm(f"Forget {target} for good (files and index)?", abort=True)
    report = mirror.memory.forget(target)
    refresh_index(ctx)
    what = [f"{len(report.facts)} fact(s)"] + ([f"session {s}" for s in report.sessions])
    click.echo(f"Forgot {', '.join(what)}; changed {len(set(report.files))} file(s).")
