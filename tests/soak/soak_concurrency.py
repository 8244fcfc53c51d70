"""Concurrency soak: the real daemon, an API writer, a CLI writer and an outside editor, all
writing the same few sessions at once; then written vs found, and whether the index converged.

  python scripts/soak.py concurrency [--seconds 120] [--sessions 3] [--json PATH]

Who writes, at the same time, for ``--seconds``:
  - api:    the Python library (``ActiveMirror`` -> ``Session.add_message``), one process;
  - cli:    ``amosvault add`` subprocesses, one after another;
  - editor: an outside program that edits the files as text and saves them the way editors do
            (write a temp file, fsync, rename it over the file). It behaves like a careful
            real editor: it reads the file, "thinks" a few ms, writes its temp file, checks
            that the file on disk is still the one it read (if not, it reloads and redoes the
            edit, as an editor that noticed "changed on disk"), then renames. The instant
            between that check and the rename is the race window every editor has, and that
            no program on the other side can close (the editor takes no lock of ours). Its
            edits: append a message typed by hand (no ``^id``), change the title and tags in
            the front-matter, or add a mark to a line of an existing message.
  - the daemon (``amosvault daemon``, a subprocess) indexes it all, live.

Every message and every mark carries a unique token; a write counts once it was acknowledged
(the API call returned, the CLI exited 0, the editor's rename happened). A writer told
"changed under us, try again" (a typed `ConflictError` or lock timeout) retries; retries are
counted.

The editor renames with ``renameat2(RENAME_EXCHANGE)`` where the system has it: the file ends
up exactly as after a plain rename, but the editor can look at what it replaced. When that is
not the file it checked, its save clobbered a write that landed inside its own check-to-rename
window; those tokens are listed as ``editor_clobbered`` (the outside program's loss, with
evidence), apart from ``lost`` (any other missing token: the product's fault, a failure).

At the end: the writers stop; the time until the daemon's index matches the files
(``converged ... in S s``: every file's final bytes applied, and the index equal to a fresh
rebuild of a copy: the same chunks with the same stored fields, and a vector per chunk for its
current text); then every token is looked for in the files (parsed as sessions) and by a search
through the daemon's socket (the bare token among the first 10 messages, or else the whole
message text: in hybrid ranking a bare token is not always in the top 10, since the
neighbours of a message match its words through their context; that count is reported).
Exit 1 when anything was lost or duplicated, a search misses a
token the files hold, an editor's last front-matter edit is gone, or the index did not converge.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

TOKEN_RE = re.compile(r"\bzq[acem]\d{7}\b")
SESSION_ENV = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME")
RETRYABLE_CLI = ("keeps changing", "has held")  # ConflictError, LockTimeoutError


# -- tokens and logs -----------------------------------------------------------------------
def token(kind: str, n: int) -> str:
    """A unique token: ``zq`` + a (api), c (cli), e (editor message) or m (editor mark) + n."""
    return f"zq{kind}{n:07d}"


class AckLog:
    """A worker's acknowledged writes, one JSON line each, flushed at once."""

    def __init__(self, path: Path) -> None:
        self.handle = path.open("a", encoding="utf-8")

    def write(self, **record: Any) -> None:
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def read_log(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(acknowledged records, the worker's summary) of one worker log."""
    records, summary = [], {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if "summary" in item:
                summary = item["summary"]
            else:
                records.append(item)
    return records, summary


# -- renameat2(RENAME_EXCHANGE) ------------------------------------------------------------
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


_LIBC = ctypes.CDLL(None, use_errno=True)


def exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` atomically; False where the system cannot."""
    renameat2 = getattr(_LIBC, "renameat2", None)
    if renameat2 is None:
        return False
    done = renameat2(
        _AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE
    )
    if done == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


# -- the workers (each a subprocess of this script) ----------------------------------------
def _stopping(stop_file: Path, deadline: float) -> bool:
    return stop_file.exists() or time.time() >= deadline


def api_worker(args: argparse.Namespace) -> int:
    """Append messages through the library API until told to stop."""
    import logging

    from amos_vault.core.errors import ConflictError, LockTimeoutError
    from amos_vault.mirror import ActiveMirror

    merges = Counter[str]()

    class Count(logging.Handler):  # the product says when it re-read or merged
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            merges["merged" if "merg" in text else "reread" if "re-read" in text else "other"] += 1

    product_log = logging.getLogger("amos_vault.sessions.manager")
    product_log.setLevel(logging.DEBUG)
    product_log.addHandler(Count())

    mirror = ActiveMirror(args.vault)
    sessions = [mirror.load_session(sid) for sid in args.session_ids.split(",")]
    log = AckLog(args.log)
    rng = random.Random(args.seed)
    n = retries = errors = 0
    pause = 1.0 / args.rate if args.rate > 0 else 0.0
    while not _stopping(args.stop_file, args.deadline):
        session = rng.choice(sessions)
        tok = token("a", n)
        text = f"API note {tok} about the {rng.choice(WORDS)} and the {rng.choice(WORDS)}."
        while True:
            try:
                message = session.add_message("user", text)
            except (ConflictError, LockTimeoutError):
                retries += 1
                continue
            except Exception as exc:  # counted and shown; the soak decides
                errors += 1
                print(f"api writer: {type(exc).__name__}: {exc}", file=sys.stderr)
                break
            log.write(token=tok, session=session.id, id=message.id)
            break
        n += 1
        if pause:
            time.sleep(pause * rng.uniform(0.5, 1.5))
    log.write(summary={"writes": n, "retries": retries, "errors": errors, **merges})
    log.close()
    return 0


def cli_worker(args: argparse.Namespace) -> int:
    """Append messages with `amosvault add` subprocesses until told to stop."""
    ids = args.session_ids.split(",")
    log = AckLog(args.log)
    rng = random.Random(args.seed)
    n = retries = errors = 0
    command = [sys.executable, "-m", "amos_vault", "--vault", str(args.vault), "add"]
    while not _stopping(args.stop_file, args.deadline):
        sid = rng.choice(ids)
        tok = token("c", n)
        text = f"CLI note {tok} on the {rng.choice(WORDS)}."
        while True:
            done = subprocess.run(
                [*command, sid, text], capture_output=True, text=True, timeout=120
            )
            if done.returncode == 0:
                log.write(token=tok, session=sid, out=done.stdout.strip())
                break
            if any(marker in done.stderr for marker in RETRYABLE_CLI):
                retries += 1
                continue
            errors += 1
            print(f"cli writer: exit {done.returncode}: {done.stderr.strip()}", file=sys.stderr)
            break
        n += 1
    log.write(summary={"writes": n, "retries": retries, "errors": errors})
    log.close()
    return 0


WORDS = (
    "harbor",
    "lantern",
    "granite",
    "violin",
    "orchard",
    "comet",
    "ledger",
    "meadow",
    "compass",
    "kettle",
)
_FRONT_RE = re.compile(r"\A---\n(.*?\n)---\n", re.S)


def edit_text(text: str, action: str, tok: str, rev: str, title: str, now: str) -> str | None:
    """The file's text after one editor action (None when the action has nothing to edit)."""
    if action == "append":  # a message typed by hand, without a ^id
        if not text.endswith("\n"):
            text += "\n"
        return text + f"\n**user** · {now}\n\nTyped in the editor: {tok}, see the {rev}.\n"
    if action == "front":  # retitle and retag, messages untouched
        front = _FRONT_RE.match(text)
        if front is None:
            return None
        block = front.group(1)
        block = re.sub(r"(?m)^title: .*$", f"title: {title} {rev}", block, count=1)
        block = re.sub(r"(?m)^tags: .*$", f"tags: [soak, {rev}]", block, count=1)
        return f"---\n{block}---\n" + text[front.end() :]
    # a mark added at the end of a line of an existing message
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if TOKEN_RE.search(line)]
    if not candidates:
        return None
    index = random.choice(candidates)
    lines[index] = f"{lines[index]} [mark {tok}]"
    return "\n".join(lines)


def editor_worker(args: argparse.Namespace) -> int:
    """Edit the session files as text, saving with temp-then-rename, until told to stop."""
    paths = [Path(p) for p in args.paths.split(",")]
    titles = dict(zip(paths, args.titles.split(","), strict=True))
    log = AckLog(args.log)
    rng = random.Random(args.seed)
    random.seed(args.seed + 1)
    counters = Counter[str]()
    n = 0
    can_exchange = True
    while not _stopping(args.stop_file, args.deadline):
        path = rng.choice(paths)
        action = rng.choices(("append", "front", "mark"), (5, 2, 3))[0]
        kind = "e" if action == "append" else "m"
        tok, rev = token(kind, n), f"rev{n}"
        n += 1
        base = path.read_bytes()
        time.sleep(rng.uniform(0, args.think))  # the user typing
        while True:
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            edited = edit_text(base.decode("utf-8"), action, tok, rev, titles[path], now)
            if edited is None:
                break
            data = edited.encode("utf-8")
            tmp = path.with_name(f".{path.name}.editor-{n}.tmp")
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if path.read_bytes() != base:  # "the file changed on disk": reload, redo
                tmp.unlink()
                counters["reloads"] += 1
                base = path.read_bytes()
                continue
            # -- the editor's own race window: between the check above and the rename --
            if can_exchange and exchange(tmp, path):
                replaced = tmp.read_bytes()
                tmp.unlink()
            else:
                can_exchange = False
                os.replace(tmp, path)
                replaced = base
            if replaced != base:
                gone = set(TOKEN_RE.findall(replaced.decode("utf-8", "replace")))
                gone -= set(TOKEN_RE.findall(edited))
                counters["clobbers"] += 1
                log.write(clobbered=sorted(gone), path=str(path))
            record: dict[str, Any] = {"action": action, "path": str(path)}
            if action == "front":
                record["title"], record["rev"] = f"{titles[path]} {rev}", rev
            else:
                record["token"] = tok
            log.write(**record)
            counters[action] += 1
            break
        time.sleep(rng.uniform(0, args.pause))
    log.write(
        summary={
            "saves": sum(counters[a] for a in ("append", "front", "mark")),
            "exchange": can_exchange,
            **counters,
        }
    )
    log.close()
    return 0


# -- the soak ------------------------------------------------------------------------------
def _env(base: Path) -> dict[str, str]:
    """Config and cache folders under ``base`` (keys stay out of the user's), with the real
    embedding model linked into the cache."""
    from amos_vault.core.environment import user_cache_dir
    from amos_vault.index.models import DEFAULT_MODEL_NAME, default_model_dir

    model = default_model_dir(user_cache_dir())
    config, cache = base / "xdg-config", base / "xdg-cache"
    models = cache / "amos-vault" / "models"
    models.mkdir(parents=True, exist_ok=True)
    if model.is_dir() and not (models / DEFAULT_MODEL_NAME).exists():
        (models / DEFAULT_MODEL_NAME).symlink_to(model)
    return {**os.environ, "XDG_CONFIG_HOME": str(config), "XDG_CACHE_HOME": str(cache)}


def _request(amos: Path, message: dict[str, Any], timeout: float = 30) -> dict[str, Any] | None:
    from amos_vault.runtime import ipc

    try:
        return ipc.request(amos, message, timeout=timeout)
    except ipc.DaemonUnavailable:
        return None


def _wait(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _digest(data: bytes) -> str:
    # As the index manifest records a file (amos_vault.index.sync): blake2b, 16 bytes.
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def manifest_matches(vault: Path) -> bool:
    """Whether the daemon's manifest records exactly the session files' current bytes."""
    from amos_vault.files.vault import Vault
    from amos_vault.index.sync import indexed_files

    try:
        recorded = json.loads((vault / ".amos" / "index" / "files.json").read_bytes())["files"]
    except (OSError, ValueError, KeyError):
        return False
    files = indexed_files(Vault.open(vault))
    if set(files) != set(recorded):
        return False
    return all(_digest(path.read_bytes()) == recorded[rel][0] for rel, path in files.items())


def index_snapshot(vault: Path) -> tuple[dict[str, Any], dict[int, str]]:
    """The index of ``vault`` as data: stored fields of every chunk (by chunk id), and the
    content hash of every chunk's vector (by key)."""
    import tantivy

    from amos_vault.index.fulltext import SearchIndex
    from amos_vault.index.search import DEFAULT_MODEL_ID, EMBEDDING_DIM
    from amos_vault.index.vectors import VectorStore

    folder = vault / ".amos" / "index"
    index = SearchIndex(folder / "tantivy")
    searcher = index.index.searcher()
    total = int(searcher.num_docs)
    docs: dict[str, Any] = {}
    for _score, address in searcher.search(tantivy.Query.all_query(), max(total, 1)).hits:
        doc = searcher.doc(address).to_dict()
        name = doc["chunk_id"][0]
        while name in docs:  # a chunk id held twice is a difference too
            name += "+"
        docs[name] = doc
    vectors: dict[int, str] = {}
    if (folder / "vectors").is_dir():
        store = VectorStore.open(folder / "vectors", DEFAULT_MODEL_ID, EMBEDDING_DIM)
        for key in store.live_keys():
            row = store.row_of(key)
            assert row is not None
            vectors[key] = store.hash_of(row)
    return docs, vectors


def fresh_rebuild(vault: Path, work: Path) -> tuple[dict[str, Any], dict[int, str]]:
    """The index a fresh rebuild of a copy of ``vault`` gives (full text), and the vectors it
    must hold: one per chunk, for the chunk's current text."""
    from amos_vault.files.vault import Vault
    from amos_vault.index.search import SearchEngine
    from amos_vault.index.sync import chunk_file, indexed_files

    copy = work / "rebuild"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(vault, copy, ignore=shutil.ignore_patterns("index", "locks", "daemon.*"))
    opened = Vault.open(copy)
    SearchEngine(opened, work, use_model=False).sync(rebuild=True)
    docs, _ = index_snapshot(copy)
    expected = {}
    for rel, path in indexed_files(opened).items():
        for chunk in chunk_file(opened, rel, path.read_bytes())[0]:
            expected[chunk.key] = chunk.hash
    return docs, expected


def file_tokens(
    vault: Path,
) -> tuple[Counter[str], dict[str, dict[str, Any]], list[str], dict[str, str]]:
    """Tokens in the messages of the session files (as the product parses them), each file's
    front-matter, files that do not parse, and the text of the message of each token."""
    from amos_vault.files.sessionfile import parse_session_bytes
    from amos_vault.files.vault import Vault

    opened = Vault.open(vault)
    found: Counter[str] = Counter()
    fronts, broken, contents = {}, [], {}
    for path in opened.iter_markdown(opened.sessions_dir):
        try:
            doc = parse_session_bytes(path.read_bytes(), path)
        except Exception as exc:
            broken.append(f"{path.name}: {exc}")
            continue
        fronts[str(path)] = dict(doc.meta)
        for message in doc.messages:
            tokens = TOKEN_RE.findall(message.content)
            found.update(tokens)
            contents.update((tok, message.content) for tok in tokens)
    return found, fronts, broken, contents


def search_finds(amos: Path, contents: dict[str, str]) -> tuple[set[str], set[str]]:
    """The tokens a search through the daemon finds in a message: asked by the bare token,
    then, when that misses, by the message's whole text. Returns (found, found by token)."""

    def finds(tok: str, text: str) -> bool:
        query = {"text": text, "k": 10, "kinds": ["message"]}
        answer = _request(amos, {"op": "search", "query": query})
        return any(tok in hit["text"] for hit in (answer["hits"] if answer else []))

    by_token = {tok for tok in contents if finds(tok, tok)}
    by_text = {tok for tok in set(contents) - by_token if finds(tok, contents[tok])}
    return by_token | by_text, by_token


def run_soak(opts: argparse.Namespace) -> dict[str, Any]:
    """Run the soak; returns its figures."""
    from amos_vault.admin.scaffold import init_vault
    from amos_vault.mirror import ActiveMirror

    started = time.monotonic()
    keep = Path(opts.keep) if opts.keep else None
    work = Path(tempfile.mkdtemp(prefix="amos-soak-conc-"))
    env = _env(work)
    os.environ.update({k: env[k] for k in SESSION_ENV})
    vault = work / "vault"
    init_vault(vault, "Soak", Path(env["XDG_CONFIG_HOME"]) / "amos-vault")
    mirror = ActiveMirror(vault)
    sessions = [
        mirror.create_session(f"Soak session {i}", tags=["soak"]) for i in range(opts.sessions)
    ]
    ids = ",".join(s.id for s in sessions)
    paths = ",".join(str(s.path) for s in sessions)
    titles = ",".join(s.title for s in sessions)
    amos = vault / ".amos"
    daemon_log = work / "daemon.log"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "amos_vault", "--vault", str(vault), "daemon"],
        stdout=subprocess.DEVNULL,
        stderr=daemon_log.open("wb"),
        env=env,
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:

        def ready() -> bool:
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited: {daemon_log.read_text()[-2000:]}")
            answer = _request(amos, {"op": "status"}, timeout=5)
            return bool(answer and answer["status"]["phase"] == "watching")

        _wait(ready, 120, "the daemon to be ready")
        stop_file = work / "stop"
        deadline = time.time() + opts.seconds
        common = ["--vault", str(vault), "--stop-file", str(stop_file)]
        common += ["--deadline", repr(deadline)]
        me = [sys.executable, str(Path(__file__).resolve()), "--worker"]
        roles = {
            "api": ["--session-ids", ids, "--rate", str(opts.api_rate)],
            "cli": ["--session-ids", ids],
            "editor": ["--paths", paths, "--titles", titles, "--think", str(opts.think)],
        }
        roles["editor"] += ["--pause", str(opts.editor_pause)]
        for seed, (role, extra) in enumerate(roles.items()):
            log = work / f"{role}.jsonl"
            command = [*me, role, *common, "--log", str(log), "--seed", str(opts.seed + seed)]
            procs.append(
                subprocess.Popen(
                    [*command, *extra], env=env, stderr=(work / f"{role}.err").open("wb")
                )
            )
        writing_started = time.monotonic()
        for proc in procs:
            proc.wait(timeout=opts.seconds + 300)
        stopped = time.monotonic()
        # -- convergence: the daemon's index catches up with the final files --------------
        converged_in = None
        expected = None
        while time.monotonic() - stopped < opts.converge_timeout:
            if daemon.poll() is not None:
                break
            if manifest_matches(vault):
                seen = time.monotonic()
                if expected is None:
                    expected = fresh_rebuild(vault, work)
                if index_snapshot(vault) == expected:
                    converged_in = seen - stopped
                    break
            time.sleep(0.02)
        index_equal = converged_in is not None
        # -- written vs found ----------------------------------------------------------------
        acks: dict[str, list[dict[str, Any]]] = {}
        summaries: dict[str, dict[str, Any]] = {}
        for role in roles:
            acks[role], summaries[role] = read_log(work / f"{role}.jsonl")
        clobbered = {t for r in acks["editor"] for t in r.get("clobbered", ())}
        written_messages = [r["token"] for role in ("api", "cli") for r in acks[role]]
        written_messages += [r["token"] for r in acks["editor"] if r.get("action") == "append"]
        marks = [r["token"] for r in acks["editor"] if r.get("action") == "mark"]
        found, fronts, broken, contents = file_tokens(vault)
        in_files = {t for t in written_messages if found[t]}
        marks_in_files = {t for t in marks if found[t]}
        all_written = set(written_messages) | set(marks)
        missing = sorted(all_written - set(found))
        lost = [t for t in missing if t not in clobbered]
        duplicated = sorted(t for t, count in found.items() if count > 1)
        unexpected = sorted(set(found) - all_written)
        search_started = time.monotonic()
        searched, by_token = search_finds(amos, contents)
        search_seconds = time.monotonic() - search_started
        by_search = {t for t in written_messages if t in searched}
        not_searchable = sorted(set(found) - searched)
        last_front: dict[str, dict[str, Any]] = {}
        for record in acks["editor"]:
            if record.get("action") == "front":
                last_front[record["path"]] = record
        fronts_kept = sum(
            1
            for path, record in last_front.items()
            if fronts.get(path, {}).get("title") == record["title"]
            and record["rev"] in (fronts.get(path, {}).get("tags") or ())
        )
        status = (_request(amos, {"op": "status"}) or {}).get("status", {})
        daemon_alive = daemon.poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
    daemon_exit = daemon.returncode
    worker_errors = {
        role: (work / f"{role}.err").read_text(errors="replace")[-2000:]
        for role in roles
        if (work / f"{role}.err").exists() and (work / f"{role}.err").read_text().strip()
    }
    figures = {
        "seconds": opts.seconds,
        "sessions": opts.sessions,
        "written": len(written_messages),
        "found_in_files": len(in_files),
        "found_by_search": len(by_search),
        "api": len(acks["api"]),
        "cli": len(acks["cli"]),
        "editor_messages": sum(1 for r in acks["editor"] if r.get("action") == "append"),
        "editor_marks": len(marks),
        "editor_marks_found": len(marks_in_files),
        "editor_front_edits": sum(1 for r in acks["editor"] if r.get("action") == "front"),
        "editor_last_front_kept": f"{fronts_kept}/{len(last_front)}",
        "retries": sum(int(s.get("retries", 0)) for s in summaries.values()),
        "api_retries": int(summaries["api"].get("retries", 0)),
        "cli_retries": int(summaries["cli"].get("retries", 0)),
        "writer_errors": sum(int(s.get("errors", 0)) for s in summaries.values()),
        "product_rereads": int(summaries["api"].get("reread", 0)),
        "product_window_merges": int(summaries["api"].get("merged", 0)),
        "editor_reloads": int(summaries["editor"].get("reloads", 0)),
        "editor_clobbers": int(summaries["editor"].get("clobbers", 0)),
        "editor_clobbered_tokens": sorted(clobbered),
        "editor_can_see_clobbers": bool(summaries["editor"].get("exchange", False)),
        "missing": missing,
        "lost": lost,
        "duplicated": duplicated,
        "unexpected": unexpected,
        "found_by_bare_token": len(by_token),
        "token_not_in_top10": sorted(set(contents) - by_token)[:50],
        "token_not_in_top10_count": len(set(contents) - by_token),
        "not_searchable": not_searchable[:50],
        "not_searchable_count": len(not_searchable),
        "broken_files": broken,
        "converged": index_equal,
        "converge_seconds": round(converged_in, 3) if converged_in is not None else None,
        "daemon_alive_at_end": daemon_alive,
        "daemon_exit": daemon_exit,
        "daemon_failures": status.get("failures"),
        "daemon_errors": status.get("errors"),
        "daemon_syncs": status.get("syncs"),
        "writing_seconds": round(stopped - writing_started, 1),
        "search_seconds": round(search_seconds, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
        "worker_stderr": worker_errors,
        "work": str(work),
    }
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(work, keep, symlinks=True)
        figures["kept"] = str(keep)
    shutil.rmtree(work, ignore_errors=True)
    return figures


def failures(figures: dict[str, Any]) -> list[str]:
    """What is not as it must be (empty: the soak passed)."""
    problems = []
    for key in ("lost", "duplicated", "unexpected", "broken_files"):
        if figures[key]:
            problems.append(f"{key}: {figures[key][:20]}")
    if figures["not_searchable_count"]:
        problems.append(f"in the files but not found by search: {figures['not_searchable']}")
    if figures["found_by_search"] != figures["found_in_files"]:
        problems.append("found_by_search != found_in_files")
    if (
        figures["editor_marks_found"]
        + sum(1 for t in figures["editor_clobbered_tokens"] if t.startswith("zqm"))
        != figures["editor_marks"]
    ):
        problems.append("an editor mark is missing")
    kept, total = figures["editor_last_front_kept"].split("/")
    if kept != total:
        problems.append(f"an editor's last front-matter edit is gone ({kept}/{total} kept)")
    if not figures["converged"]:
        problems.append("the index did not converge to a fresh rebuild")
    if not figures["daemon_alive_at_end"] or figures["daemon_exit"] != 0:
        problems.append(f"the daemon died or exited {figures['daemon_exit']}")
    if figures["writer_errors"]:
        problems.append(f"writer errors: {figures['writer_errors']}")
    if figures["written"] == 0 or figures["api"] == 0 or figures["cli"] == 0:
        problems.append("a writer wrote nothing")
    return problems


def summary_line(f: dict[str, Any]) -> str:
    """The one line of figures."""
    converged = f"yes in {f['converge_seconds']:.2f} s" if f["converged"] else "no"
    clobbered = len(f["editor_clobbered_tokens"])
    return (
        f"concurrency: written={f['written']} found_in_files={f['found_in_files']} "
        f"found_by_search={f['found_by_search']} (by the bare token in the top 10: "
        f"{f['found_by_bare_token']} of {f['found_by_bare_token'] + f['token_not_in_top10_count']}"
        f" tokens) lost={len(f['lost'])} "
        f"duplicated={len(f['duplicated'])} converged={converged} "
        f"(api={f['api']}, cli={f['cli']}, editor={f['editor_messages']} messages + "
        f"{f['editor_marks']} marks + {f['editor_front_edits']} front-matter edits, "
        f"retries={f['retries']}, product merges={f['product_window_merges']}, "
        f"editor reloads={f['editor_reloads']}, editor-window clobbers={f['editor_clobbers']} "
        f"({clobbered} tokens), {f['sessions']} sessions, {f['writing_seconds']:.0f} s "
        f"writing, {f['wall_seconds']:.0f} s wall)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="soak.py concurrency",
        description="Daemon + API writer + CLI writer + editor on the same sessions.",
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to write")
    parser.add_argument("--sessions", type=int, default=3, help="how many sessions share")
    parser.add_argument("--api-rate", type=float, default=10.0, help="API writes per second")
    parser.add_argument("--think", type=float, default=0.03, help="editor: max s read->save")
    parser.add_argument("--editor-pause", type=float, default=0.1, help="editor: max s between")
    parser.add_argument("--converge-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--keep", help="copy the work folder (vault, logs) here")
    # internal: run one writer
    parser.add_argument("--worker", choices=("api", "cli", "editor"), help=argparse.SUPPRESS)
    for name in ("--vault", "--stop-file", "--log"):
        parser.add_argument(name, type=Path, help=argparse.SUPPRESS)
    for name in ("--session-ids", "--paths", "--titles"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--pause", type=float, default=0.0, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str]) -> int:
    opts = _parser().parse_args(argv)
    if opts.worker:
        worker = {"api": api_worker, "cli": cli_worker, "editor": editor_worker}[opts.worker]
        return worker(opts)
    figures = run_soak(opts)
    problems = failures(figures)
    figures["problems"] = problems
    if opts.json:
        Path(opts.json).write_text(json.dumps(figures, indent=1) + "\n")
    for problem in problems:
        print(f"concurrency: FAIL {problem}", file=sys.stderr)
    print(summary_line(figures))
    return 1 if problems else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
