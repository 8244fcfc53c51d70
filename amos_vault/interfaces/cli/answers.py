"""Answer commands: context, ask, chat."""

from __future__ import annotations

import sys
from typing import Any

import click

from amos_vault.core.errors import InvalidInputError
from amos_vault.interfaces.cli.app import (
    SESSION,
    client,
    emit_json,
    load_session,
    main,
    open_mirror,
)


def print_sources(answer: Any) -> None:
    """The numbered sources of an answer, and its notice (on stderr)."""
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
    session_id = load_session(ctx, session_ref).id if session_ref else None
    context = client(ctx).context(text, session_id)
    context.pop("served_by")
    if as_json:
        emit_json(context)
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
    mirror = open_mirror(ctx)
    session = load_session(ctx, session_ref) if session_ref else None
    streamed: list[str] = []

    def show(piece: str) -> None:
        streamed.append(piece)
        if not as_json:
            click.echo(piece, nl=False)

    answer = mirror.ask(" ".join(question), session, model=model, engine=engine, on_piece=show)
    if as_json:
        emit_json(answer.to_dict())
        return
    if not streamed:  # the extractive answer is not streamed
        click.echo(answer.text, nl=False)
    click.echo()
    print_sources(answer)


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
    mirror = open_mirror(ctx)
    if session_ref:
        session = load_session(ctx, session_ref)
        if session.status in ("completed", "archived"):
            raise InvalidInputError(
                f"session {session.id} is {session.status}: it takes no new messages",
                hint=f"start a follow-up linked to it: amosvault chat --parent {session.id}",
            )
        if session.status == "paused":
            # Ask (at a terminal) rather than resume behind the user's back, as `add` refuses.
            ask = f"Session {session.id} ({session.title}) is paused. Resume it?"
            if not (sys.stdin.isatty() and click.confirm(ask, default=True)):
                raise InvalidInputError(
                    f"session {session.id} is paused",
                    hint=f"resume it first: amosvault resume {session.id}",
                )
            session.resume()
    else:
        parent = load_session(ctx, parent_ref) if parent_ref else None
        session = mirror.create_session(title or "Chat", parent=parent)
    orchestrator = mirror.orchestrator(model=model, engine=engine)
    click.echo(f"Session {session.id}: {session.title} ({session.relative_path})")
    click.echo(CHAT_HELP)
    while True:
        try:
            line = click.prompt(
                click.style("you", bold=True), prompt_suffix="> ", default="", show_default=False
            )
        except (EOFError, click.Abort):  # Ctrl-D, or Ctrl-C at the prompt
            click.echo()
            click.echo(f"Continue later: amosvault chat --session {session.id}")
            break
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            command, _, argument = text.partition(" ")
            if command in ("/quit", "/exit"):
                click.echo(f"Continue later: amosvault chat --session {session.id}")
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
                mirror.link_sessions(session, load_session(ctx, argument.strip()))
                click.echo(f"Linked under {argument.strip()}.")
            elif command == "/context":
                context = orchestrator.build_context(argument or "(the next message)", session)
                for piece in context.pieces:
                    click.echo(f"  {piece.section}: {' '.join(piece.text.split())[:120]}")
            else:
                click.echo(CHAT_HELP)
            continue
        mirror.refresh_index()
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
