"""Where LoCoMo retrieval misses its evidence: the candidate ceiling, and missed questions.

For each answerable question (as scripts/bench_locomo.py builds and asks them), hybrid search
ranks its vault's messages; an evidence turn outside the top ``--k`` is a miss. Reports per
category:

- the ceiling: how many evidence turns are not even among the candidates the ranking sees
  (the ``engine_candidates`` nearest vectors and best full-text matches), so no fusion of the
  present signals can reach them;
- where the missed ones rank (k+1..20, 21..50, below 50 or not a candidate);
- ``--show`` missed questions of each category in ``--categories`` (a fixed random sample):
  the evidence text with its rank, and the three messages ranked first.

Usage: python scripts/locomo_misses.py --data PATH [--split tune|val|all] [--k 10]
           [--show 10] [--categories multi-hop,open-domain] [--work DIR]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_locomo import CATEGORIES, SPLITS, build_vault, engine_for, evidence_of, split_of  # noqa: E402

from amos_vault.index.fulltext import analyze  # noqa: E402
from amos_vault.index.query import Filters, MemoryQuery  # noqa: E402
from amos_vault.index.retrieval import Retriever, named_authors, query_text  # noqa: E402

DEEP = 50  # ranks looked at for a missed turn's place


def turn_texts(conversation: dict) -> dict[str, str]:
    """Each turn's "speaker: text" (with its photo caption), by dia_id."""
    texts = {}
    for name, turns in conversation["conversation"].items():
        if name.startswith("session_") and isinstance(turns, list):
            for turn in turns:
                caption = turn.get("blip_caption")
                photo = f" [shared a photo: {caption}]" if caption else ""
                texts[turn["dia_id"]] = f"{turn['speaker']}: {turn['text']}{photo}"
    return texts


def place_name(rank: int | None, k: int, candidate: bool) -> str:
    """The band a missed turn falls in."""
    if not candidate:
        return "not a candidate"
    if rank is None or rank > DEEP:
        return f"below {DEEP}"
    return f"{k + 1}-20" if rank <= 20 else f"21-{DEEP}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="LoCoMo-format JSON file")
    parser.add_argument("--split", choices=SPLITS, default="all")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--show", type=int, default=10, help="missed questions per category")
    parser.add_argument("--categories", default="multi-hop,open-domain")
    parser.add_argument("--work", type=Path, help="folder for the vaults (default: a temp folder)")
    options = parser.parse_args()
    data = split_of(json.loads(options.data.read_text()), options.split)
    work = options.work or Path(tempfile.mkdtemp(prefix="amos-locomo-misses-"))
    k = options.k
    turns: collections.Counter[str] = collections.Counter()
    bands: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    missed: dict[str, list[dict]] = collections.defaultdict(list)
    for number, conversation in enumerate(data):
        mirror, dia_of = build_vault(conversation, work / f"vault-{number}", work / "keys")
        mirror.index()
        search, texts = mirror.engine, turn_texts(conversation)
        assert search.embedder is not None, "needs the embedding model: amosvault model install"
        engine = engine_for(search, True)
        settings = mirror.vault.settings.search
        retriever = Retriever(engine, search.embedder, settings)
        scope, wanted = Filters(kinds=("message",)), settings.engine_candidates
        for question in conversation["qa"]:
            category = CATEGORIES.get(question.get("category", 0))
            evidence = evidence_of(question)
            if category is None or not evidence:
                continue
            text = query_text(MemoryQuery(question["question"]))
            hits = retriever.search(MemoryQuery(text, k=DEEP, kinds=("message",))).hits
            ranked = [dia_of.get(hit.chunk_id, "") for hit in hits]
            terms = analyze(text, drop=named_authors(text, engine.author_names()))
            full_text = engine.full_text(
                terms, scope, settings.candidates, settings.own_text_boost, keys_for=wanted
            )
            near = engine.nearest(search.embedder.embed([text])[0], scope, wanted)
            keys = set(full_text.keys) | {int(key) for key in near.keys}
            fetched = engine.fetch(list(keys))
            candidates = {dia_of.get(str(doc["chunk_id"][0]), "") for doc in fetched.values()}
            misses = []
            for turn in evidence:
                turns[category] += 1
                rank = ranked.index(turn) + 1 if turn in ranked else None
                if rank is None or rank > k:
                    bands[category][place_name(rank, k, turn in candidates)] += 1
                    misses.append((turn, rank, texts.get(turn, "?")))
            if misses:
                top = [(turn, texts.get(turn, "?")) for turn in ranked[:3]]
                missed[category].append(
                    {"question": text, "evidence": evidence, "misses": misses, "top": top}
                )
        search.close()
        print(f"  {conversation['sample_id']}: done", file=sys.stderr)
    print(f"evidence turns missed from the top {k}, by where they rank:")
    for category in CATEGORIES.values():
        counts = bands[category]
        summary = ", ".join(f"{band} {n}" for band, n in sorted(counts.items()))
        lost = sum(counts.values())
        print(f"  {category:12} {turns[category]:4d} turns, {lost} missed: {summary}")
    absent = sum(b["not a candidate"] for b in bands.values())
    print(f"ceiling: {absent} of {sum(turns.values())} evidence turns are no candidate")
    sample = random.Random(17)
    for category in options.categories.split(","):
        questions = missed.get(category.strip(), [])
        print(f"\n== {category}: {len(questions)} questions with a miss")
        for item in sample.sample(questions, min(options.show, len(questions))):
            print(f"\nQ: {item['question']}")
            for turn, rank, text in item["misses"]:
                print(f"  missed {turn} (rank {rank or '-'}): {text[:200]}")
            for place, (turn, text) in enumerate(item["top"], 1):
                print(f"  #{place} {turn}: {text[:160]}")


if __name__ == "__main__":
    main()
