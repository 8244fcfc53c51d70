"""Fuzzing, short: the targets of tests/soak/soak_fuzz.py with a few hundred generated inputs each
(fixed seed, so the same inputs every run), plus the crashes the long run found, kept as
regression tests. The long run is `python scripts/soak.py fuzz` (10,000 inputs a target)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from amos_vault.core.config import load_settings
from amos_vault.core.errors import AmosError, ConfigError, InvalidInputError, ParseError
from amos_vault.core.schedule import parse_schedule
from amos_vault.files.frontmatter import split_front_matter
from amos_vault.files.sessionfile import parse_session_bytes, read_session_file
from amos_vault.files.vault import Vault
from amos_vault.index.query import MemoryQuery, parse_query
from amos_vault.index.sync import chunk_file
from amos_vault.runtime import ipc
from tests.soak import soak_fuzz as fuzz


@pytest.mark.parametrize(
    ("target", "examples"),
    [("session", 120), ("note", 120), ("config", 120), ("query", 100)],
)
def test_generated_inputs_give_typed_errors_only_and_change_no_file(
    target: str, examples: int, tmp_path: Path
) -> None:
    tally = fuzz.run_target(target, examples, tmp_path, seed=1)
    assert tally.inputs >= examples
    assert tally.crashes == 0, "\n".join(tally.failures)
    assert tally.files_changed == 0, "\n".join(tally.failures)
    assert tally.roundtrip_mismatches == 0, "\n".join(tally.failures)
    if target != "note":  # note parsers never refuse a file: they read what they can
        assert tally.typed_errors > 0


# Requests that crashed a handler before the fixes: no reply and a traceback in the log.
CRASHED_THE_DAEMON = [
    fuzz.nested(100_000, "["),  # RecursionError in json.loads
    b'{"op": "\\ud800"}\n',  # the error echoed a lone surrogate: the reply failed to encode
    b'{"op": "search", "query": {"text": "\\udcff"}}\n',  # reached Tantivy
]


def test_generated_requests_to_a_real_daemon_get_typed_errors(tmp_path: Path) -> None:
    def crashed_before(target: Any) -> None:
        for raw in CRASHED_THE_DAEMON:
            answer = json.loads(target.exchange(raw))
            assert answer["ok"] is False
            assert not answer["error"].startswith("internal error"), answer
        target.alive()

    tally = fuzz.run_target("socket", 60, tmp_path, seed=1, first=crashed_before)
    assert tally.inputs >= 60
    assert tally.crashes == 0, "\n".join(tally.failures)  # tracebacks in the log count
    assert tally.files_changed == 0, "\n".join(tally.failures)
    assert tally.typed_errors > 0 and tally.details["answered"] > 0
    assert tally.details["alive-at-end"] == 1


def test_the_script_prints_one_line_of_figures_and_writes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figures.json"
    code = fuzz.main(["--examples", "20", "--targets", "config,note", "--json", str(out)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0
    assert last.startswith("fuzz: inputs=40 crashes=0 files_changed=0 roundtrip_mismatches=0")
    assert last.endswith("(config=20 note=20)")
    data = json.loads(out.read_text())
    assert data["inputs"] == 40 and set(data["targets"]) == {"config", "note"}


# -- regressions found by the long run -----------------------------------------------------------


def session(front: str, body: str = "") -> bytes:
    return f"---\nid: s-1\ntitle: T\n{front}\n---\n\n# T\n{body}".encode()


@pytest.mark.parametrize(
    "data",
    [
        session("loop: &m {a: *m}"),  # a mapping that contains itself
        session("loop: &l [*l]"),
        session(
            "\n".join(
                ["l0: &l0 [x, x]", *(f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]" for i in range(1, 30))]
            )
        ),
        session("x: " + "[" * 40_000),  # quadratic in PyYAML: minutes
        session("created: !!timestamp 2026-11-20/x"),  # AttributeError inside PyYAML
        session("x: " + "[" * 150 + "]" * 150),
        session(
            "",
            "\n**user** · 2026-11-20 10:00:00Z ^m-1\n\n<!-- amos-meta: "
            + "[" * 5000
            + "]" * 5000
            + " -->\nhi\n",
        ),
        session(
            "",
            '\n**user** · 2026-11-20 10:00:00Z ^m-1\n\n<!-- amos-meta: {"a": '
            + "[" * 300
            + "]" * 300
            + "} -->\nhi\n",
        ),
    ],
)
def test_front_matter_and_metadata_that_loop_explode_or_nest_deep_are_parse_errors(
    data: bytes, vault_root: Path
) -> None:
    with pytest.raises(ParseError):
        parse_session_bytes(data)
    # The indexer reads such a file as plain text, never raising.
    chunks, error = chunk_file(Vault.open(vault_root), "sessions/bad.md", data)
    assert error and chunks is not None


def test_a_summary_note_with_an_impossible_date_reads_as_no_front_matter() -> None:
    assert split_front_matter("---\ncreated: 2026-02-30\n---\nbody\n") == ({}, "body\n")
    assert split_front_matter("---\na: &a [*a]\n---\nbody\n") == ({}, "body\n")
    assert split_front_matter("---\nt: !!timestamp -20\n---\nbody\n") == ({}, "body\n")


@pytest.mark.parametrize(
    "line",
    [
        "max_file_mb = nan",
        "max_file_mb = inf",
        "lock_timeout_seconds = -inf",
    ],
)
def test_non_finite_numbers_in_the_settings_are_config_errors(line: str, vault_root: Path) -> None:
    (vault_root / ".amos" / "config.toml").write_text(f"[sessions]\n{line}\n")
    with pytest.raises(ConfigError, match="finite"):
        load_settings(vault_root)


def test_an_interval_too_long_to_schedule_is_a_config_error(vault_root: Path) -> None:
    (vault_root / ".amos" / "config.toml").write_text(
        '[consolidation]\nschedule = "every 99999999999999999999d"\n'
    )
    with pytest.raises(ConfigError, match="3650 days"):
        load_settings(vault_root)
    assert parse_schedule("every 3650d") == ("interval", 3650 * 86400.0)


def test_a_huge_size_limit_still_reads_files(vault_root: Path) -> None:
    path = vault_root / "sessions" / "s.md"
    path.write_bytes(session(""))
    doc, _data = read_session_file(path, 1e308)
    assert doc.meta["id"] == "s-1"  # 1e308 MiB overflows to inf bytes: int() of it crashed


def test_queries_with_lone_surrogates_are_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"query\.text"):
        MemoryQuery(text="\ud800")
    with pytest.raises(InvalidInputError, match=r"query\.tags"):
        MemoryQuery(text="x", tags=("ok", "\udcff"))
    with pytest.raises(AmosError):
        parse_query(json.loads('{"text": "a", "user_id": "\\ud83d"}'))


def test_ipc_refuses_deep_json_and_escapes_surrogates_in_replies() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        ipc.read_message(io.BytesIO(b"[" * 100_000 + b"\n"))
    line = ipc.encode({"ok": False, "error": "unknown op '\ud800'"})
    assert line.endswith(b"\n") and json.loads(line)["error"] == "unknown op '\ud800'"
