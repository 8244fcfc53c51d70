"""Consolidation on LoCoMo-format data: fact coverage, retrieval with facts, and time.

Each conversation becomes a vault as in bench_locomo.py (one completed session per LoCoMo
session, speakers kept as message names); both speakers are people, so both roles' first-person
statements are mined (``[consolidation] fact_roles = ["user", "assistant"]``). Then the vault is
consolidated with the chosen engine (default: extractive) and indexed. Reported:

* fact coverage: the share of the dataset's gold ``observation`` facts for which some extracted
  fact of the same conversation has cosine >= 0.65 / 0.75 / 0.85 (the vault's own embedder);
  facts per session;
* retrieval with facts: turn-level evidence recall@10 of the top 10 results over messages
  alone (searched before consolidating: no facts in the index), over messages with the facts
  as further keys of their messages (``kinds=("message",)`` after consolidating), and over
  messages and facts together (``kinds=("message", "fact")``), where a fact standing alone is
  one result counting as its source messages, and a fact shown beside the message it found
  is part of that message's result;
* time to consolidate each conversation (and per session).

The dataset's observations are only read to score; they are never written into a vault,
except with ``--engine gold``: then they are the facts (each one learned from its evidence
turn, through the same consolidation path), to measure the ceiling of what facts as keys can
add to retrieval when the facts are as good as the dataset authors' (written by a strong
model). ``--set NAME=VALUE`` changes a ``[search]`` setting, as in bench_locomo.py
(``--set fact_weight=0.5``). The last line reads ``facts R@10=0.xxx``.

Usage: python scripts/bench_consolidation.py --data PATH [--split tune|val|all] [--limit N]
       [--engine extractive|ollama|gold] [--set NAME=VALUE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_locomo import CATEGORIES, SPLITS, build_vault, evidence_of, setting_changes, split_of

from amos_vault.index.query import MemoryQuery
from amos_vault.index.retrieval import Hit
from amos_vault.memory.summarizer import CandidateFact, Digest, SessionText, Summarizer
from amos_vault.mirror import ActiveMirror

THRESHOLDS = (0.65, 0.75, 0.85)
K = 10


def observations(conversation: dict) -> Iterator[tuple[str, str, list[str]]]:
    """The dataset's observations: (speaker, text, the turns it cites)."""
    for per_session in conversation.get("observation", {}).values():
        for speaker, items in per_session.items():
            for item in items:
                if not item or not isinstance(item[0], str):
                    continue
                cites = item[1] if len(item) > 1 else []
                turns = cites if isinstance(cites, list) else str(cites).split(";")
                yield speaker, item[0], [str(turn).strip() for turn in turns]


def gold_observations(conversation: dict) -> list[str]:
    return [text for _speaker, text, _turns in observations(conversation)]


def gold_facts(conversation: dict) -> dict[str, list[tuple[str, str]]]:
    """The dataset's observations by the turn they cite: dia_id -> [(speaker, text)]."""
    cited: dict[str, list[tuple[str, str]]] = {}
    for speaker, text, turns in observations(conversation):
        for turn in turns:
            cited.setdefault(turn, []).append((speaker, text))
    return cited


class GoldSummarizer:
    """The extractive summary, with the dataset's observations as the session's facts."""

    name = "gold"

    def __init__(self, inner: Summarizer, cited: dict[str, list[tuple[str, str]]]) -> None:
        self.inner = inner
        self.cited = cited  # message id -> [(speaker, observation)]

    def digest(self, session: SessionText) -> Digest:
        digest = self.inner.digest(session)
        digest.facts = [
            CandidateFact(
                text=text,
                type="knowledge",
                confidence=0.9,
                message_id=message.id,
                said_on=message.timestamp.date() if message.timestamp else None,
                author=speaker,
            )
            for message in session.messages
            for speaker, text in self.cited.get(message.id, [])
        ]
        digest.engine = self.name
        return digest


def recall(ranked_groups: list[set[str]], evidence: set[str]) -> float:
    """Evidence recall over the first K results, each result a set of turn ids."""
    seen: set[str] = set()
    for group in ranked_groups[:K]:
        seen |= group
    return len(evidence & seen) / len(evidence)


def search(mirror: ActiveMirror, question: str, kinds: tuple[str, ...]) -> list[Hit]:
    """The hits of the ``K`` results for ``question`` among chunks of ``kinds``."""
    return mirror.search(MemoryQuery(question, k=K, kinds=kinds), sync=False).hits


def run(
    conversation: dict, root: Path, keys: Path, engine: str, changes: dict[str, object]
) -> dict:
    mirror, dia_of = build_vault(conversation, root, keys)
    config = root / ".amos" / "config.toml"
    chosen = "extractive" if engine == "gold" else engine
    settings = "".join(f"{name} = {json.dumps(value)}\n" for name, value in changes.items())
    config.write_text(
        f'[consolidation]\nengine = "{chosen}"\nfact_roles = ["user", "assistant"]\n'
        + (f"[search]\n{settings}" if settings else "")
    )
    mirror = ActiveMirror(root, key_dir=keys)
    if engine == "gold":
        cited = gold_facts(conversation)
        by_message = {cid.rsplit("#", 1)[1]: cited.get(dia, []) for cid, dia in dia_of.items()}
        extractive = mirror.memory.summarizer
        mirror.memory.summarizer = lambda engine=None, should_stop=None: GoldSummarizer(  # type: ignore[method-assign]
            extractive(engine, should_stop), by_message
        )
    assert mirror.engine.embedder is not None, "the embedding model is needed: run `make model`"
    started = time.perf_counter()
    mirror.index()  # the baseline: indexing (embedding every message) of the same vault
    index_seconds = time.perf_counter() - started
    questions = [
        q for q in conversation["qa"] if q.get("category") in CATEGORIES and evidence_of(q)
    ]
    alone = [search(mirror, q["question"], ("message",)) for q in questions]  # no facts yet
    embedder = mirror.engine.embedder
    started = time.perf_counter()
    plan = mirror.memory.consolidate()
    seconds = time.perf_counter() - started
    mirror.index()

    facts = mirror.memory.facts(include_closed=True)
    gold = gold_observations(conversation)
    coverage = {t: 0.0 for t in THRESHOLDS}
    if gold and facts:
        similarity = embedder.embed(gold) @ embedder.embed([f.text for f in facts]).T
        best = similarity.max(axis=1)
        coverage = {t: float(np.mean(best >= t)) for t in THRESHOLDS}

    dia_of_message = {cid.rsplit("#", 1)[1]: dia for cid, dia in dia_of.items()}
    sources = {f.id: {dia_of_message.get(m, "") for m in f.source_messages} for f in facts}

    def groups(hits: list[Hit]) -> list[set[str]]:
        """Each result as the turns it shows: a message, or a fact standing alone as its
        source messages (a fact shown beside the message it found is part of that result)."""
        out = []
        for hit in hits:
            if hit.kind == "fact" and not hit.attached_to:
                out.append(sources.get(hit.message_id, set()))
            elif hit.kind != "fact":
                out.append({dia_of.get(hit.chunk_id, "")})
        return out

    rows = []
    for question, plain in zip(questions, alone, strict=True):
        evidence = set(evidence_of(question))
        keys = search(mirror, question["question"], ("message",))
        mixed = search(mirror, question["question"], ("message", "fact"))
        rows.append(
            {
                "category": question["category"],
                "without": recall(groups(plain), evidence),
                "keys": recall(groups(keys), evidence),
                "with": recall(groups(mixed), evidence),
                "fact_hits": sum(h.kind == "fact" for h in mixed),
                "standalone_facts": sum(h.kind == "fact" and not h.attached_to for h in mixed),
            }
        )
    return {
        "sample_id": conversation["sample_id"],
        "sessions": len(plan.sessions),
        "facts": len(plan.added),
        "confirmed": len(plan.confirmed),
        "closed": len(plan.closed),
        "seconds": seconds,
        "index_seconds": index_seconds,
        "gold": len(gold),
        "coverage": coverage,
        "rows": rows,
        "notes": plan.notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="LoCoMo-format JSON file")
    parser.add_argument(
        "--engine",
        default="extractive",
        choices=["extractive", "ollama", "gold"],
        help="gold: the dataset's observations as the facts (the ceiling; see above)",
    )
    parser.add_argument(
        "--split", choices=SPLITS, default="all", help="tune, val or all (as bench_locomo.py)"
    )
    parser.add_argument("--limit", type=int, help="only the first N conversations")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a [search] setting for the run (repeatable)",
    )
    options = parser.parse_args()
    changes = setting_changes(options.set)
    data = split_of(json.loads(options.data.read_text()), options.split)[: options.limit]
    work = Path(tempfile.mkdtemp(prefix="amos-consolidation-"))
    results = []
    for number, conversation in enumerate(data):
        result = run(conversation, work / f"vault-{number}", work / "keys", options.engine, changes)
        results.append(result)
        print(
            f"  {result['sample_id']}: {result['sessions']} sessions, {result['facts']} facts "
            f"({result['confirmed']} confirmations, {result['closed']} closed), "
            f"{result['seconds']:.1f} s, coverage@0.75 {result['coverage'][0.75]:.3f}",
            file=sys.stderr,
        )
    rows = [r for result in results for r in result["rows"]]
    sessions = sum(r["sessions"] for r in results)
    facts = sum(r["facts"] for r in results)
    gold = sum(r["gold"] for r in results)
    print(
        f"LoCoMo consolidation ({options.engine}): {len(results)} conversations, "
        f"{sessions} sessions, {gold} gold observations"
    )
    for threshold in THRESHOLDS:
        covered = sum(r["coverage"][threshold] * r["gold"] for r in results) / max(1, gold)
        print(f"fact coverage (cosine >= {threshold:.2f}): {covered:.3f}")
    print(f"facts per session: {facts / max(1, sessions):.2f} ({facts} facts)")
    per_session = [r["seconds"] / r["sessions"] for r in results if r["sessions"]]
    for result in results:
        print(
            f"time: {result['sample_id']} {result['sessions']} sessions in "
            f"{result['seconds']:.1f} s"
        )
    if per_session:
        median = statistics.median(per_session)
        ratio = statistics.median(r["seconds"] / r["index_seconds"] for r in results)
        print(
            f"time per session: median {median:.2f} s (30 sessions ~ {30 * median:.1f} s); "
            f"consolidating / indexing the same vault: median ratio {ratio:.2f}"
        )
    for name, number in [("overall", None), *((v, k) for k, v in CATEGORIES.items())]:
        subset = [r for r in rows if number is None or r["category"] == number]
        if subset:
            without = statistics.fmean(r["without"] for r in subset)
            keys = statistics.fmean(r["keys"] for r in subset)
            with_facts = statistics.fmean(r["with"] for r in subset)
            print(
                f"R@{K} {name:12} n={len(subset):4d}  messages alone {without:.3f}"
                f"  facts as keys {keys:.3f}  messages+facts {with_facts:.3f}"
            )
    print(
        f"facts in the top {K} results: mean {statistics.fmean(r['fact_hits'] for r in rows):.2f}"
        f" ({statistics.fmean(r['standalone_facts'] for r in rows):.2f} standing alone)"
    )
    if options.json:
        options.json.write_text(json.dumps(results, indent=1, default=str))
    print(f"facts R@{K}={statistics.fmean(r['with'] for r in rows):.3f}")


if __name__ == "__main__":
    main()
