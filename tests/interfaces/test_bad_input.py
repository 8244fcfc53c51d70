"""Bad input: a clear error naming the file (and line), the file untouched, the rest working.

Every case drops a broken file next to a good session made through the API, then checks:

1. loading the broken file (by path, and by id where it has one) raises an `AmosError` whose
   text names the file and whose ``line`` is the exact line where that is knowable;
2. the broken file keeps its bytes through loading, listing, the doctor and a write to the
   good session;
3. the good session keeps working: it is listed, a message can be added, `SessionManager.scan`
   reports the broken file among its problems and `check_vault` reports it with its line;
4. the real CLI (a subprocess) says the same: `doctor` exits 1 naming ``file:line``, `show`
   prints one ``error:`` line and no traceback, `list` lists the good session and warns.

Everything runs in temp folders; the private key goes to a temp XDG_CONFIG_HOME.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from amos_vault.admin.doctor import Problem, check_vault
from amos_vault.admin.scaffold import init_vault
from amos_vault.core.errors import (
    AmosError,
    DuplicateSessionIdError,
    ParseError,
    SessionNotFoundError,
    UnsafePathError,
)
from amos_vault.files.vault import Vault
from amos_vault.mirror import ActiveMirror
from amos_vault.sessions.manager import SessionManager
from amos_vault.sessions.session import Session

MESSAGE = "**user** · 2026-01-02 10:00:00Z ^m-00000001"
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"


# -- the broken files -------------------------------------------------------------------------


def session_bytes(*front: str, body: bytes = b"hi") -> bytes:
    """A session file: ``front`` between '---' lines, a title, then one message."""
    head = "\n".join(["---", *front, "---", "", "# A session", "", MESSAGE, "", ""])
    return head.encode("utf-8") + body + b"\n"


def line_of(data: bytes, marker: bytes) -> int:
    """1-based line of the first occurrence of ``marker`` in ``data``."""
    return data[: data.index(marker)].count(b"\n") + 1


@dataclass(frozen=True)
class BadFile:
    """A broken file to drop under sessions/, and what its error must say."""

    name: str
    data: bytes
    lines: tuple[int | None, ...]
    """Acceptable values of the error's ``line`` (one value where the line is exact)."""
    words: tuple[str, ...] = ()
    """Words the error's message or hint must contain (case-insensitive)."""
    session_id: str | None = None
    """The id the file declares, when it can be read, for the load-by-id checks."""


def _key_case(name: str, session_id: str, bad_line: str, words: tuple[str, ...]) -> BadFile:
    data = session_bytes(f"id: {session_id}", "title: Broken header", bad_line, "kind: persistent")
    return BadFile(name, data, (line_of(data, bad_line.encode()),), words, session_id)


_YAML_LAST = session_bytes("id: badyaml00001", "status: active", "title: [unclosed")
_YAML_COLON = session_bytes("id: badyaml00002", "title: a: b", "status: active")
_UTF8 = session_bytes(
    "id: badutf800001", "title: Bad bytes", "status: active", body=b"line one\ncaf\xff\xfe\n"
)
_BINARY = PNG_HEADER + b"\x00" * 64

CASES = [
    BadFile("malformed-yaml.md", _YAML_LAST, (line_of(_YAML_LAST, b"title: ["),), ("YAML",)),
    BadFile("yaml-colon.md", _YAML_COLON, (line_of(_YAML_COLON, b"title: a"),), ("YAML",)),
    BadFile("list-front-matter.md", session_bytes("- a", "- b"), (2,), ("mapping",)),
    BadFile("scalar-front-matter.md", session_bytes("just some words"), (2,), ("mapping",)),
    BadFile("unclosed-front-matter.md", b"---\nid: abc\ntitle: Never closed\n\nhi\n", (1,)),
    _key_case("status-int.md", "badstat00042", "status: 42", ("status", "42")),
    _key_case("status-unknown.md", "badstat0done", "status: done", ("status", "done")),
    _key_case("tags-mapping.md", "badtags00001", "tags: {a: 1}", ("tags",)),
    _key_case("created-not-a-date.md", "baddate00001", "created: not-a-date", ("created",)),
    BadFile("missing-id.md", session_bytes("title: No id", "status: active"), (1, 2), ("id",)),
    BadFile("invalid-utf8.md", _UTF8, (line_of(_UTF8, b"caf\xff"),), ("UTF-8",)),
    BadFile("empty.md", b"", (None, 1), ("empty",)),
    BadFile("image.md", _BINARY, (None, line_of(_BINARY, b"\x00")), ("text",)),
]
ID_CASES = [case for case in CASES if case.session_id]


# -- fixtures and helpers ---------------------------------------------------------------------


@dataclass
class Env:
    """A vault made by `init_vault`, opened through the API, holding one good session."""

    root: Path
    key_dir: Path
    mirror: ActiveMirror
    good: Session
    extra: dict[str, Path] = field(default_factory=dict)

    @property
    def sessions(self) -> Path:
        return self.root / "sessions"

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def make_env(base: Path) -> Env:
    key_dir = base / "xdg" / "amos-vault"
    init_vault(base / "vault", "Tester", key_dir)
    root = (base / "vault").resolve()
    mirror = ActiveMirror(root, key_dir=key_dir)
    good = mirror.create_session("Good one")
    good.add_message("user", "hello")
    return Env(root, key_dir, mirror, good)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """A fresh vault with one good session; the private key stays under tmp_path."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("AMOS_VAULT", raising=False)
    monkeypatch.delenv("AMOS_DEBUG", raising=False)
    return make_env(tmp_path)


def fingerprint(path: Path) -> tuple[object, ...]:
    """Inode, size, mtime and content hash of ``path``: any write or replacement changes it.

    Files over 1 MiB (the 50 MB case) hash their first and last MiB only, to stay fast.
    """
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        if stat.st_size > 1 << 20:
            handle.seek(-(1 << 20), os.SEEK_END)
            digest.update(handle.read())
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, digest.hexdigest()


def assert_names_file(error: AmosError, rel: str, lines: tuple[int | None, ...]) -> None:
    """``error`` is a library error naming ``rel`` (and its line, where one is expected)."""
    assert isinstance(error, AmosError)
    text = str(error)
    assert rel in text, f"error does not name {rel}: {text!r}"
    assert error.line in lines, f"line {error.line} for {rel}, expected one of {lines}: {text!r}"
    if error.line is not None:
        assert f"{rel}:{error.line}" in text, text


def assert_words(error: AmosError, words: tuple[str, ...]) -> None:
    said = f"{error.message} {error.hint or ''}".lower()
    for word in words:
        assert word.lower() in said, f"{word!r} missing from {said!r}"


def doctor_problems(env: Env, rel: str) -> list[Problem]:
    problems = check_vault(Vault.open(env.root))
    assert not [p for p in problems if p.path == env.good.relative_path], problems
    return [p for p in problems if p.path == rel]


def assert_rest_works(
    env: Env, bad: Path, lines: tuple[int | None, ...], *, in_scan: bool = True
) -> None:
    """The good session still works around ``bad``, which is reported and never changed."""
    before = fingerprint(bad)
    rel = env.rel(bad)

    listed = env.mirror.list_sessions()
    assert env.good.id in [s.id for s in listed]
    assert all(s.path is None or s.path.resolve() != bad.resolve() for s in listed)
    assert fingerprint(bad) == before

    if in_scan:
        _, unreadable = SessionManager(Vault.open(env.root)).scan()
        found = [p for p in unreadable if p.path == bad]
        assert found, f"scan() does not report {rel}: {unreadable}"
        assert_names_file(found[0].error, rel, lines)
        assert fingerprint(bad) == before

    found_problems = doctor_problems(env, rel)
    assert found_problems, f"the doctor does not report {rel}"
    assert any(p.line in lines for p in found_problems), (found_problems, lines)
    assert fingerprint(bad) == before

    message = env.good.add_message("assistant", "still working")
    reloaded = env.mirror.load_session(env.good.id)
    assert [m.id for m in reloaded.messages][-1] == message.id
    assert reloaded.messages[-1].content == "still working"
    assert fingerprint(bad) == before


# -- one broken file at a time ----------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_file_is_reported_untouched_and_isolated(env: Env, case: BadFile) -> None:
    bad = env.sessions / case.name
    bad.write_bytes(case.data)
    rel = env.rel(bad)

    for ref in (rel, str(bad)):
        with pytest.raises(AmosError) as info:
            env.mirror.load_session(ref)
        assert_names_file(info.value, rel, case.lines)
        assert_words(info.value, case.words)
    assert bad.read_bytes() == case.data

    assert_rest_works(env, bad, case.lines)
    assert bad.read_bytes() == case.data


@pytest.mark.parametrize("hand_named", [False, True], ids=["app-named", "hand-named"])
@pytest.mark.parametrize("case", ID_CASES, ids=lambda case: case.name)
def test_load_by_id_names_the_broken_file(env: Env, case: BadFile, hand_named: bool) -> None:
    """Asking for the id of a session whose file is broken names that file, not 'no session'."""
    assert case.session_id is not None
    name = case.name if hand_named else f"2026-01-02-broken-header-{case.session_id[:4]}.md"
    bad = env.sessions / "2026" / "01" / name
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(case.data)

    with pytest.raises(AmosError) as info:
        env.mirror.load_session(case.session_id)
    assert_names_file(info.value, env.rel(bad), case.lines)
    assert bad.read_bytes() == case.data


# -- size limit -------------------------------------------------------------------------------


def test_file_over_the_size_limit_is_refused_without_reading_it(env: Env) -> None:
    bad = env.sessions / "huge.md"
    line = b"a" * 63 + b"\n"
    chunk = line * (2**20 // len(line))  # 1 MiB
    with bad.open("wb") as handle:
        handle.write(session_bytes("id: huge00000001", "title: Huge", "status: active"))
        for _ in range(50):
            handle.write(chunk)
    assert bad.stat().st_size > 50 * 2**20
    rel = env.rel(bad)
    before = fingerprint(bad)

    tracemalloc.start()
    try:
        with pytest.raises(ParseError) as info:
            env.mirror.load_session(rel)
        listed = env.mirror.list_sessions()
        problems = doctor_problems(env, rel)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB: the 50 MB file was read"

    assert_names_file(info.value, rel, (None,))
    assert "16 MiB" in str(info.value)
    assert "max_file_mb" in f"{info.value} {info.value.hint}"
    assert env.good.id in [s.id for s in listed]
    assert problems and "16 MiB" in problems[0].message
    assert fingerprint(bad) == before

    assert_rest_works(env, bad, (None,))
    assert fingerprint(bad) == before
    bad.unlink()  # 50 MB: do not keep it in pytest's temp folders


def test_custom_size_limit_from_config(env: Env) -> None:
    (env.root / ".amos" / "config.toml").write_text("[sessions]\nmax_file_mb = 0.001\n")
    env.mirror = ActiveMirror(env.root, key_dir=env.key_dir)
    limit = int(0.001 * 2**20)  # 1048 bytes: 0.001 MiB, rounded down to whole bytes

    def padded(session_id: str, size: int) -> bytes:
        data = session_bytes(f"id: {session_id}", "title: Padded", "status: active", body=b"")
        data = data[:-1] + b"x" * (size - len(data)) + b"\n"
        assert len(data) == size
        return data

    under = env.sessions / "under.md"
    under.write_bytes(padded("under0000001", limit))
    over = env.sessions / "over.md"
    over.write_bytes(padded("over00000001", limit + 1))
    over_bytes = over.read_bytes()

    assert env.mirror.load_session("sessions/under.md").id == "under0000001"
    with pytest.raises(ParseError) as info:
        env.mirror.load_session("sessions/over.md")
    assert_names_file(info.value, "sessions/over.md", (None,))
    assert "max_file_mb" in f"{info.value} {info.value.hint}"

    ids = [s.id for s in env.mirror.list_sessions()]
    assert "under0000001" in ids
    assert "over00000001" not in ids
    assert_rest_works(env, over, (None,))
    assert over.read_bytes() == over_bytes
    # Last, so the checks above run first: the message should show the limit as configured.
    assert "0.001 MiB" in str(info.value), f"the configured limit is 0.001 MiB: {info.value}"


# -- duplicate id -----------------------------------------------------------------------------


@pytest.fixture
def copied(env: Env) -> tuple[Path, Path]:
    """The good session's file and an editor's copy of it (same stem plus " 1.md")."""
    original = env.good.path
    assert original is not None
    copy = original.with_name(f"{original.stem} 1.md")
    shutil.copyfile(original, copy)
    return original, copy


def test_duplicate_id_load_by_id_names_both_files(env: Env, copied: tuple[Path, Path]) -> None:
    copy_bytes = copied[1].read_bytes()
    with pytest.raises(DuplicateSessionIdError) as info:
        env.mirror.load_session(env.good.id)
    assert all(path.name in str(info.value) for path in copied), str(info.value)
    assert copied[1].read_bytes() == copy_bytes


def test_duplicate_id_load_by_prefix_is_refused(env: Env, copied: tuple[Path, Path]) -> None:
    """A unique prefix of a doubled id must not silently pick one of the two files."""
    with pytest.raises(DuplicateSessionIdError) as info:
        env.mirror.load_session(env.good.id[:6])
    assert all(path.name in str(info.value) for path in copied), str(info.value)


def test_duplicate_id_is_reported_and_the_rest_works(env: Env, copied: tuple[Path, Path]) -> None:
    original, copy = copied
    copy_bytes = copy.read_bytes()
    names = (original.name, copy.name)

    assert env.good.id in [s.id for s in env.mirror.list_sessions()]
    _, unreadable = SessionManager(Vault.open(env.root)).scan()
    doubled = [p for p in unreadable if isinstance(p.error, DuplicateSessionIdError)]
    assert len(doubled) == 1, unreadable
    assert doubled[0].path in copied
    assert all(name in str(doubled[0].error) for name in names)

    rels = (env.rel(original), env.rel(copy))
    problems = [p for p in check_vault(Vault.open(env.root)) if p.path in rels]
    assert len(problems) == 1, problems
    assert all(name in problems[0].message for name in names), problems[0]
    assert copy.read_bytes() == copy_bytes

    env.good.add_message("assistant", "written to the original only")
    assert env.good.path == original
    assert copy.read_bytes() == copy_bytes
    assert "written to the original only" in original.read_text(encoding="utf-8")


def test_duplicate_id_doctor_points_at_the_id_line(env: Env, copied: tuple[Path, Path]) -> None:
    rels = tuple(env.rel(path) for path in copied)
    problems = [p for p in check_vault(Vault.open(env.root)) if p.path in rels]
    assert [p.line for p in problems] == [2], problems  # line 2 holds 'id: ...' in both files


# -- paths that lead out of the vault ---------------------------------------------------------


@pytest.fixture
def outside_link(env: Env, tmp_path: Path) -> tuple[Path, Path]:
    """A session file outside the vault, and a symlink to it under sessions/.

    The link is named like a file the app writes (``...-<first 4 of id>.md``), so a lookup by
    id tries it first.
    """
    outside = tmp_path / "elsewhere" / "2026-01-02-outside-out0.md"
    outside.parent.mkdir()
    outside.write_bytes(session_bytes("id: out0feedbeef", "title: Outside", "status: active"))
    link = env.sessions / outside.name
    link.symlink_to(outside)
    return link, outside


def test_symlink_outside_is_refused_by_path_and_ignored(
    env: Env, outside_link: tuple[Path, Path]
) -> None:
    link, outside = outside_link
    outside_bytes = outside.read_bytes()
    rel = env.rel(link)

    for ref in (rel, str(link)):
        with pytest.raises(UnsafePathError) as info:
            env.mirror.load_session(ref)
        assert rel in str(info.value)

    assert "out0feedbeef" not in [s.id for s in env.mirror.list_sessions()]
    assert_rest_works(env, link, (None,), in_scan=False)
    assert link.is_symlink()
    assert link.readlink() == outside
    assert outside.read_bytes() == outside_bytes


@pytest.mark.parametrize("ref", ["out0feedbeef", "out0fee"], ids=["id", "prefix"])
def test_symlink_outside_is_not_loadable_by_id(
    env: Env, outside_link: tuple[Path, Path], ref: str
) -> None:
    link, outside = outside_link
    with pytest.raises((SessionNotFoundError, UnsafePathError)):
        session = env.mirror.load_session(ref)
        session.add_message("user", "must not reach the outside file nor replace the link")
    assert link.is_symlink()
    assert outside.read_bytes().count(b"must not reach") == 0


DOT_DOT_REFS = [
    "../../etc/passwd",
    "sessions/../../outside.md",
    "../outside.md",
    "..",
    "/etc/passwd",
]


def test_path_with_dot_dot_is_refused(env: Env, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_bytes(session_bytes("id: outside00001", "title: Outside", "status: active"))
    outside_bytes = outside.read_bytes()

    for ref in [*DOT_DOT_REFS, str(outside)]:
        with pytest.raises(UnsafePathError) as info:
            env.mirror.load_session(ref)
        assert ref in str(info.value)
    assert outside.read_bytes() == outside_bytes
    assert env.good.id in [s.id for s in env.mirror.list_sessions()]
    assert "outside00001" not in [s.id for s in env.mirror.list_sessions()]


def test_title_with_dot_dot_writes_inside_the_sessions_folder(env: Env) -> None:
    for title in ["../../x", "../../etc/passwd", "..", "a/../../b\\..\\c"]:
        session = env.mirror.create_session(title)
        assert session.path is not None
        path = session.path.resolve()
        assert env.sessions.resolve() in path.parents, path
        assert ".." not in Path(session.relative_path or "").parts
        assert "/" not in path.name and "\\" not in path.name
        assert session.title == title
        assert env.mirror.load_session(session.id).title == title
        session.add_message("user", "inside")
        assert env.mirror.load_session(env.rel(path)).messages[-1].content == "inside"
    assert not list(env.root.parent.glob("*.md")), "nothing may land next to the vault"


# -- the command line -------------------------------------------------------------------------

CLI_CASES = ["malformed-yaml.md", "status-int.md", "invalid-utf8.md", "image.md"]


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    """One vault holding the good session, four broken files and a link out of the vault."""
    base = tmp_path_factory.mktemp("cli")
    env = make_env(base)
    for case in CASES:
        if case.name in CLI_CASES:
            (env.sessions / case.name).write_bytes(case.data)
            env.extra[case.name] = env.sessions / case.name
    outside = base / "elsewhere.md"
    outside.write_bytes(session_bytes("id: outside00001", "title: Outside", "status: active"))
    (env.sessions / "link.md").symlink_to(outside)
    env.extra["link.md"] = env.sessions / "link.md"
    env.extra["outside"] = outside
    return env


def run_cli(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `amosvault`, as `python -m amos_vault`, with the key folder in the temp dir."""
    child_env = {k: v for k, v in os.environ.items() if k not in ("AMOS_DEBUG", "AMOS_VAULT")}
    child_env["XDG_CONFIG_HOME"] = str(env.key_dir.parent)
    return subprocess.run(
        [sys.executable, "-m", "amos_vault", "--vault", str(env.root), *args],
        capture_output=True,
        text=True,
        cwd=env.root,
        env=child_env,
        timeout=60,
        check=False,
    )


def cli_location(case: BadFile) -> str:
    """A regex for ``sessions/<name>:<line>: `` (any line, or none, where it is not exact)."""
    line = f":{case.lines[0]}" if len(case.lines) == 1 else r"(:\d+)?"
    return rf"sessions/{re.escape(case.name)}{line}: "


def snapshot(env: Env) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in env.extra.items()}


def test_cli_doctor_names_each_file_and_line(cli_env: Env) -> None:
    before = snapshot(cli_env)
    result = run_cli(cli_env, "doctor")
    assert result.returncode == 1, result
    assert "Traceback" not in result.stdout + result.stderr
    for case in CASES:
        if case.name in CLI_CASES:
            assert re.search(cli_location(case), result.stdout), (case.name, result.stdout)
    assert "sessions/link.md: " in result.stdout
    assert f"{cli_env.good.relative_path}:" not in result.stdout
    assert snapshot(cli_env) == before


def test_cli_list_shows_the_good_session_and_warns(cli_env: Env) -> None:
    before = snapshot(cli_env)
    result = run_cli(cli_env, "list")
    assert result.returncode == 0, result
    assert cli_env.good.id in result.stdout
    assert "outside00001" not in result.stdout
    assert "warning" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert snapshot(cli_env) == before


@pytest.mark.parametrize("name", [*CLI_CASES, "link.md"])
def test_cli_show_bad_file_prints_one_error_line(cli_env: Env, name: str) -> None:
    before = snapshot(cli_env)
    result = run_cli(cli_env, "show", f"sessions/{name}")
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    case = next((c for c in CASES if c.name == name), None)
    if case is None:  # the link: naming the link or where it points is clear enough
        assert f"sessions/{name}" in errors[0] or str(cli_env.extra["outside"]) in errors[0]
    else:
        assert re.search(cli_location(case), errors[0]), errors[0]
    assert snapshot(cli_env) == before


def test_cli_show_good_session_still_works(cli_env: Env) -> None:
    before = snapshot(cli_env)
    result = run_cli(cli_env, "show", cli_env.good.id)
    assert result.returncode == 0, result
    assert "hello" in result.stdout
    assert snapshot(cli_env) == before
