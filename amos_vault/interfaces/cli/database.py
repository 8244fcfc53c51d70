"""Database commands for the postgres engine: `amosvault db migrate`, `amosvault db status`.

The URL is the vault's ([index] url, or AMOS_DATABASE_URL); migrations also run by
themselves when the engine opens, so `migrate` is for doing it ahead (a deploy step).
"""

from __future__ import annotations

import click

from amos_vault.interfaces.cli.app import emit_json, main, vault_root


def _database(ctx: click.Context) -> tuple[str, float]:
    from amos_vault.core.config import load_settings
    from amos_vault.index.engines.postgres.connection import database_url

    settings = load_settings(vault_root(ctx)).index
    return database_url(settings), settings.connect_timeout_seconds


@main.group("db")
def db_group() -> None:
    """The team's PostgreSQL ([index] engine = "postgres"): schema migrations."""


@db_group.command("migrate")
@click.pass_context
def migrate_command(ctx: click.Context) -> None:
    """Apply the schema migrations the database does not have yet (safe to repeat)."""
    from amos_vault.index.engines.postgres.connection import redacted
    from amos_vault.index.engines.postgres.migrations import migrate_database

    url, timeout = _database(ctx)
    applied = migrate_database(url, timeout)
    for migration in applied:
        click.echo(f"applied {migration.version:04d} {migration.name}")
    click.echo(f"{redacted(url)}: up to date" + ("" if applied else " (nothing to apply)"))


@db_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status_command(ctx: click.Context, as_json: bool) -> None:
    """Show which migrations the database has and which are pending."""
    from amos_vault.index.engines.postgres.connection import redacted
    from amos_vault.index.engines.postgres.migrations import database_status

    url, timeout = _database(ctx)
    status = database_status(url, timeout)
    if as_json:
        emit_json(
            {
                "database": redacted(url),
                "version": status.version,
                "newest_known": status.newest_known,
                "applied": [{"version": v, "name": n} for v, n in status.applied],
                "pending": [{"version": m.version, "name": m.name} for m in status.pending],
                "notes": status.notes,
            }
        )
        return
    click.echo(f"database: {redacted(url)}")
    click.echo(f"schema version: {status.version} (this amos-vault knows {status.newest_known})")
    for version, name in status.applied:
        click.echo(f"  applied {version:04d} {name}")
    for migration in status.pending:
        click.echo(f"  pending {migration.version:04d} {migration.name}")
    if status.version > status.newest_known:
        click.echo("the database is newer than this amos-vault: upgrade it")
    for note in status.notes:
        click.echo(f"note: {note}")
