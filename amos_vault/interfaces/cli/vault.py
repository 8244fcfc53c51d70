"""Vault commands: init, doctor, verify."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from amos_vault.interfaces.cli.app import emit_json, main, named_vault, open_mirror, vault_root


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
    from amos_vault.core.environment import user_config_dir

    target = path or named_vault(ctx) or Path(".")
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


@main.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def doctor_command(ctx: click.Context, as_json: bool) -> None:
    """Check every file of the vault; exit status 1 if any problem is found."""
    from amos_vault.admin.doctor import check_vault
    from amos_vault.core.config import Settings
    from amos_vault.core.errors import ConfigError
    from amos_vault.files.vault import Vault

    root = vault_root(ctx)
    try:
        vault = Vault.open(root)
    except ConfigError:  # still check everything else, with default settings
        vault = Vault(root=root, settings=Settings())
    problems = check_vault(vault)
    if as_json:
        emit_json({"vault": str(vault.root), "problems": [p.to_dict() for p in problems]})
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


@main.command("verify")
@click.option("--strict", is_flag=True, help="Exit 1 for edits since signing too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def verify_command(ctx: click.Context, strict: bool, as_json: bool) -> None:
    """Check every signed session and memory note against its signature.

    Lists what was edited since it was signed (reported, never blocked: exit status 0, or 1
    with --strict) and any bad signature: a checksum rewritten by a program, a signature
    forged or damaged (exit status 1).
    """
    findings, unsigned = open_mirror(ctx).check_signatures()
    edited = [f for f in findings if f.state == "changed"]
    bad = [f for f in findings if f.state not in ("ok", "changed")]
    if as_json:
        emit_json(
            {
                "checked": len(findings),
                "ok": len(findings) - len(edited) - len(bad),
                "edited": len(edited),
                "bad": len(bad),
                "unsigned_completed_sessions": unsigned,
                "findings": [f.to_dict() for f in findings],
            }
        )
    else:
        for finding in [*bad, *edited]:
            click.echo(f"{finding.state:<14} {finding.kind:<8} {finding.path}  ({finding.detail})")
        click.echo(
            f"Checked {len(findings)} signed file(s): "
            f"{len(findings) - len(edited) - len(bad)} unchanged, "
            f"{len(edited)} edited since signing, {len(bad)} badly signed."
        )
        if unsigned:
            click.echo(
                f"  {unsigned} completed session(s) carry no signature (completed before "
                "signing existed, or where the owner's key was not available)."
            )
    if bad or (strict and edited):
        sys.exit(1)
