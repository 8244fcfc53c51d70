"""Team commands: `serve` (the team server) and `token create|list|revoke`.

Both talk to the team database: ``--url``, else ``$AMOS_DATABASE_URL``, else the ``[index]
url`` of the vault named with ``--vault`` or ``$AMOS_VAULT`` (whose settings the server
then uses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from amos_vault.interfaces.cli.app import emit_json, main, named_vault

if TYPE_CHECKING:
    from amos_vault.runtime.teamdb import TeamDatabase

URL_HELP = "PostgreSQL URL of the team database (default: $AMOS_DATABASE_URL, else [index] url)."


def _database(ctx: click.Context, url: str | None, *, pool_size: int = 2) -> TeamDatabase:
    """The team database (``--url``, else AMOS_DATABASE_URL, else the vault's [index] url),
    its schema brought up to date."""
    from amos_vault.core.config import Settings
    from amos_vault.core.environment import user_cache_dir
    from amos_vault.index.engines.postgres.connection import database_url
    from amos_vault.runtime.teamdb import TeamDatabase

    root = named_vault(ctx)
    if root is not None:
        from amos_vault.files.vault import Vault

        settings = Vault.open(root).settings
    else:
        settings = Settings()
    return TeamDatabase.open(
        url or database_url(settings.index),
        pool_size=pool_size,
        settings=settings,
        cache_dir=user_cache_dir(),
        timeout=settings.index.connect_timeout_seconds,
    )


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8780, show_default=True, type=click.IntRange(1, 65535))
@click.option("--url", default=None, help=URL_HELP)
@click.option(
    "--pool", default=8, show_default=True, type=click.IntRange(1, 200), help="Connections."
)
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, url: str | None, pool: int) -> None:
    """Serve the team database: a JSON HTTP API (/api/...) and MCP over HTTP (/mcp), every
    request with a bearer token from `amosvault token create`."""
    from amos_vault.core.environment import ollama_host_override
    from amos_vault.interfaces.mcp.server import build_server
    from amos_vault.interfaces.mcp.teamtools import TeamTools, team_answerer
    from amos_vault.runtime.teamserver import run_team_server, team_app

    database = _database(ctx, url, pool_size=pool)
    answerer = team_answerer(database.settings, ollama_host_override())
    tools = TeamTools(database.memory(), answerer)
    app = team_app(tools, database.tokens, build_server(tools), host=host)
    click.echo(f"amos-vault team server at http://{host}:{port} (API /api/..., MCP /mcp)", err=True)
    try:
        run_team_server(app, host, port)
    finally:
        database.close()


@main.group("token")
def token_group() -> None:
    """Bearer tokens of the team server, each bound to an identity."""


@token_group.command("create")
@click.option("--identity", required=True, help="Whose rows the token may see (an owner id).")
@click.option("--name", default="", help="A name to tell the token by (who or what uses it).")
@click.option("--url", default=None, help=URL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def token_create_command(
    ctx: click.Context, identity: str, name: str, url: str | None, as_json: bool
) -> None:
    """Make a token; its secret is shown this once (the database keeps only its hash)."""
    database = _database(ctx, url)
    try:
        token, secret = database.tokens.create(identity, name)
    finally:
        database.close()
    if as_json:
        emit_json({**token.to_dict(), "secret": secret})
        return
    click.echo(secret)
    click.echo(
        f"token {token.token_id} for {token.identity}: keep the line above, it is not shown "
        "again; send it as 'Authorization: Bearer <token>'",
        err=True,
    )


@token_group.command("list")
@click.option("--url", default=None, help=URL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def token_list_command(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """List the tokens (never their secrets)."""
    database = _database(ctx, url)
    try:
        tokens = database.tokens.list()
    finally:
        database.close()
    if as_json:
        emit_json([token.to_dict() for token in tokens])
        return
    if not tokens:
        click.echo("No tokens yet: `amosvault token create --identity ID` makes one.")
    for token in tokens:
        state = f"revoked {token.revoked:%Y-%m-%d}" if token.revoked else "live"
        click.echo(
            f"{token.token_id}  {token.identity:<24} {state:<18} "
            f"{token.created:%Y-%m-%d}  {token.name}"
        )


@token_group.command("revoke")
@click.argument("token")
@click.option("--url", default=None, help=URL_HELP)
@click.pass_context
def token_revoke_command(ctx: click.Context, token: str, url: str | None) -> None:
    """Revoke a token (by its id or name): the server refuses it from now on."""
    database = _database(ctx, url)
    try:
        revoked = database.tokens.revoke(token)
    finally:
        database.close()
    click.echo(f"Revoked {revoked.token_id} ({revoked.identity}).")
