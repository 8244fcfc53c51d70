"""Hybrid retrieval: one ranking path for the CLI, the library, the daemon and benchmarks.

The engine (`index.engine`) gives candidates: its nearest vectors to the query and its best
full-text matches (the query's filters applied). Each candidate is scored as

    score = w_bm25 * z(BM25 of the chunk's text with its neighbours)
          + w_dense * z(cosine of the query and the chunk's vector)
          + w_session * z(BM25 of the chunk's whole session)
          + w_author * [the query names exactly one author, and this chunk is by them]
          + w_fact * max(0, the best own-text score of the query's k best facts drawn from
                            this message: its dense and BM25 terms above, standardised alike)

where z() standardises a score over every chunk in scope, not only the candidates (chunks
with no full-text match score 0 before standardising; the mean and spread of the cosine come
from a fixed random sample of rows when the scope is large), so no query touches every chunk.
Then an answer inherits a share of its question:

    score += w_neighbour * max(0, the score of the message right before this one in its
                               session, when that one asks something: has a "?")

for the evidence is often the reply to the turn that matches the question's words (LoCoMo
dev R@10 tune/val 0.807/0.758 -> 0.832/0.774; from any neighbour, asking or not, before or
after: 0.818/0.763, and multi-hop and open-domain fell; the question given a share of its
reply as well: -0.011/-0.002 at 0.1; neighbours' vectors blended in did nothing).
Standardised fusion beat reciprocal-rank fusion on the LoCoMo
dev set (scripts/bench_locomo.py). Without an embedding model the dense term is left out and
search says so once.

Measured on LoCoMo dev's tune/val split (scripts/bench_locomo.py --split) and not kept, for
no gain above noise (~0.01) on both parts (R@10 tune 0.807, val 0.758 as is): a boost for
passages from dates the question names (-0.001/0.000: dates are already in each message's
words and vector), session-level dense evidence (+0.004/+0.003), dense pseudo-relevance feedback
(-0.005/-0.024), the neighbours' dense similarity (-0.001/+0.002), a second vector per
message with its previous message (+0.009/-0.001, at twice the memory), only that context
vector (-0.018/+0.016), no date in the embedded text (+0.004/-0.017), the query embedded
also without the author it names (+0.016/-0.003), a stronger author boost (-0.005/-0.001),
and spreading hits over sessions or apart from their neighbours (-0.010/-0.009 and worse).
Nor, measured with a share from any neighbour (0.818/0.763), these: a question naming two people
joined by "and" searched as each one's part too, the union fused by the best score, the sum,
or each part's 1-4 best hits given places (9 such questions on tune, 11 on val: R@10 the
same, or -0.004/-0.001 for the best score: the parts find no evidence the whole misses), and
a boost for first-person statements by the one author a question names (+0.001/+0.003 at
0.2; the open-domain misses are inferences, such as a political leaning from a hike story).
Nor, with the reply's share as above (0.832/0.774; scripts/locomo_misses.py shows where the
misses rank: 39 of 1108 evidence turns are no candidate of the 200 nearest and 200 best
full-text matches, so the misses are ones of ranking), these: the query embedded as a
statement (wh-word and auxiliary dropped: -0.014/-0.013; averaged with the question's vector:
-0.005/-0.005) or as the passages are ("Name: question" for the one author it names:
-0.005/-0.006); ``own_text_boost`` 0, 0.25, 1 or 2 (-0.008/-0.003, -0.004/+0.001,
-0.015/-0.007, -0.020/-0.015); full-text context of the message before only (-0.009/-0.024),
after only (-0.030/-0.015), or two each side (-0.002/-0.002) (BM25's k1 and b Tantivy does not
expose); question words (mention, say, kind, type, likely, think, many, often...) dropped
from the full-text terms (each within 0.003, all -0.003/-0.004); lexical pseudo-relevance
feedback (3-5 words of the first hits: -0.019/-0.029 and worse); for the 104 questions that
ask for several things ("What books has X read?"), at most 1, 2 or 3 hits per session
(-0.026/-0.019, -0.002/-0.006, -0.003/0.000; even only for multi-hop questions, cap 1 takes
multi-hop from 0.516 to 0.414: their evidence shares a session with the best hit more often
than not); a penalty for messages that ask (0.1-0.3: -0.001/+0.001) or a bonus for long ones
(+0.004/-0.003); a pairwise logistic fusion fitted on tune's candidates with those features
(tune 0.809-0.824, val 0.740-0.768: a grid over the weights picks the ones above); and each
sentence of a message embedded too, its best cosine mixed into the dense term (+0.007/-0.002
at most, at 2.5 times the vectors; with a length bonus, chosen together on tune:
+0.010/-0.001). Nor standardising over the candidates instead of every chunk in scope
(-0.008/-0.009 and worse), nor a full-text weight by the query's length (0.2-0.4 for queries
of at most 3 or at least 6 terms: 0.000/-0.001 at best). Nor another embedding model: no
PyPI wheel bundles a retrieval-tuned small English one (bge, e5, gte, arctic, multi-qa
MiniLM), and those found gave e5-small in 4 bits 0.807/0.752, all-mpnet-base-v2 0.837/0.763
(at twice the vectors' memory and ~9 times the query's embedding time), a Universal Sentence
Encoder 0.787/0.743. Nor, re-ranking the first 50 results offline (0.833/0.773 as they are,
with the int8 model matrices): a second model's cosine blended in (all-mpnet-base-v2 at
0.2: -0.006/-0.009, worse above; e5-small chosen on tune: +0.004/-0.022; a Universal Sentence
Encoder and nanoranker's trained scorer: no blend above the order as is), SPLADE-tiny (the one
learned sparse model a PyPI package ships) at 0.2: 0.000/+0.012 (+0.005 over the whole set,
95% interval -0.003..+0.012, and ~36 ms per message to encode), each message's vector pooled
over its own words read after the message before ("late chunking": -0.006/-0.003 and worse),
the model's token vectors matched one by one (MaxSim: -0.005/+0.002 at 0.1, worse above), and
a linear map of the query vector learnt near the identity (147k weights, each conversation
left out of its own training in turn: 0.000/+0.015, +0.005 over the whole set, 95% interval
-0.003..+0.014). No PyPI package ships a cross-encoder (ms-marco MiniLM or TinyBERT, bge,
jina or mxbai rerankers; about 55 packages inspected).

Facts are further keys of the messages they were drawn from (their ``source`` links), not
rivals for their places: a query for messages ranks messages, the facts' evidence added with
a weight (a message scored as the better of its own score and its best fact's lost 0.014 on
tune: loosely matching fact sentences flood the top 10 with their messages). Where facts are
asked for too, a fact that found a message is shown right after it, the pair one of the k
results, ranked as the better of the two (``Hit.attached_to``); a fact without a source
message in the vault is a result of its own. Facts cannot lift recall much this way whatever
their quality: the dataset authors' own observations as the facts, each learned from the turn
it cites (scripts/bench_consolidation.py --engine gold), give 0.813 against 0.811 for the
messages alone at the fact weight of 0.3 (0.812 at 0.15, 0.806 at 0.6, 0.791 at 1): a fact
restates its message, and the same model finds both or neither.

"Nothing found" is an answer: when no word of the query is in any file (and it names no
author) and no passage in scope reaches a cosine of ``nothing_found_floor``, search returns no
hits and says so, rather than ranking noise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amos_vault.core.config import SearchSettings
from amos_vault.files.links import wikilink
from amos_vault.index.chunks import source_message_key
from amos_vault.index.embeddings import Embedder
from amos_vault.index.engine import IndexEngine, TermHits, best_first
from amos_vault.index.fulltext import analyze
from amos_vault.index.query import NO_WORDS, NOTHING_FOUND, Filters, MemoryQuery, has_words

GENERIC_AUTHORS = frozenset({"user", "assistant", "system"})
# The best candidates that pass shares to their replies and receive them (LoCoMo tune R@10
# 0.832; 50: 0.825, every candidate: 0.827).
NEIGHBOUR_POOL = 100


@dataclass(frozen=True)
class Hit:
    """One result, with its provenance."""

    chunk_id: str
    kind: str
    score: float
    path: str
    title: str
    session_id: str
    message_id: str
    line_start: int
    line_end: int
    timestamp: dt.datetime | None
    role: str
    author: str
    text: str
    snippet: str
    highlights: tuple[tuple[int, int], ...] = ()
    sources: tuple[str, ...] = ()  # a fact's source messages, as link targets
    attached_to: str = ""  # a fact shown with a message it found: that message's chunk id

    @property
    def link(self) -> str:
        """An Obsidian link to the hit: the message's block, or the file."""
        return wikilink(self.path, self.message_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "chunk_id": self.chunk_id,
            "kind": self.kind,
            "score": round(self.score, 4),
            "path": self.path,
            "title": self.title,
            "session_id": self.session_id or None,
            "message_id": self.message_id or None,
            "lines": [self.line_start, self.line_end],
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "role": self.role or None,
            "author": self.author or None,
            "link": self.link,
            "snippet": self.snippet,
            "highlights": [list(r) for r in self.highlights],
            "text": self.text,
            "sources": list(self.sources),
            "attached_to": self.attached_to or None,
        }


@dataclass
class SearchResult:
    """Hits, best first, and how they were found."""

    hits: list[Hit]
    mode: str  # "hybrid" or "full-text"
    notice: str | None = None
    terms: list[str] = field(default_factory=list)


def _z(values: np.ndarray, population: int) -> tuple[float, float]:
    """Mean and standard deviation of ``values`` padded with zeros to ``population``."""
    n = max(population, len(values), 1)
    mean = float(values.sum()) / n
    var = float((values.astype(np.float64) ** 2).sum()) / n - mean * mean
    return mean, (var**0.5 if var > 1e-12 else 1.0)


@dataclass(frozen=True)
class Scale:
    """What makes a query's raw scores comparable: the mean and spread of its cosine and of
    its BM25 score over the chunks in scope (``has_words``: some chunk matched a term)."""

    mean: float
    std: float
    mean_b: float
    std_b: float
    has_words: bool

    def own_text(
        self, weights: SearchSettings, similarity: np.ndarray, bm25: np.ndarray
    ) -> np.ndarray:
        """The score of chunks on their own text (meaning and words), from their cosine and
        their raw BM25 (0 where no term matched)."""
        dense = weights.dense_weight * (similarity - self.mean) / self.std
        if not self.has_words:
            return dense
        return dense + weights.bm25_weight * (bm25 - self.mean_b) / self.std_b


@dataclass
class FoundByFacts:
    """A message reached through facts drawn from it: the best of their scores, their keys."""

    score: float
    facts: list[int] = field(default_factory=list)


def _asks(query: Filters, kind: str) -> bool:
    """Whether ``query`` wants chunks of ``kind`` (no kinds named: every kind)."""
    return not query.kinds or kind in query.kinds


def named_authors(text: str, authors: Sequence[str]) -> list[str]:
    """Authors (message ``name``s, not generic roles) the query mentions by name."""
    lowered = text.lower()
    return [
        a
        for a in authors
        if a.lower() not in GENERIC_AUTHORS
        and re.search(r"(?<!\w)" + re.escape(a.lower()) + r"(?!\w)", lowered)
    ]


def first_values(doc: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """A fetched chunk's fields, each as its first value ("" where it has none)."""
    return {name: (values or [""])[0] for name, values in doc.items()}


def query_text(query: MemoryQuery) -> str:
    """The text a query is searched and embedded as (its words, single-spaced)."""
    return " ".join(query.text.split())


class Retriever:
    """Runs `MemoryQuery`s against one vault's engine."""

    def __init__(
        self,
        engine: IndexEngine,
        embedder: Embedder | None,
        settings: SearchSettings,
        notice: str | None = None,
    ) -> None:
        self.engine = engine
        self.embedder = embedder if engine.semantic else None
        self.settings = settings
        self.notice = notice

    def search(self, query: MemoryQuery, vector: np.ndarray | None = None) -> SearchResult:
        """The ``query.k`` best chunks for ``query`` (``vector``: its embedding, when the
        caller has it already)."""
        text = query_text(query)
        if not text or query.k <= 0:
            return SearchResult([], self._mode(), self.notice)
        if not has_words(text):
            return SearchResult([], self._mode(), NO_WORDS)
        if self.embedder is None or not self.engine.population(Filters()):
            return self._full_text(query, text)
        return self._hybrid(query, text, vector)

    def _mode(self) -> str:
        return "hybrid" if self.embedder is not None else "full-text"

    def _session_scores(self, terms: list[str], filters: Filters) -> tuple[dict[int, float], int]:
        scope = dataclasses.replace(filters, kinds=("session",))
        hits = self.engine.full_text(terms, scope, self.settings.candidates)
        return dict(zip(hits.keys, hits.scores, strict=True)), max(hits.total, len(hits.keys))

    def _hybrid(self, query: MemoryQuery, text: str, vector: np.ndarray | None) -> SearchResult:
        assert self.embedder is not None
        engine, weights = self.engine, self.settings
        filters = query.only()
        named = named_authors(text, engine.author_names())
        terms = analyze(text, drop=named)
        population = engine.population(filters)
        if not population:
            return SearchResult([], "hybrid", self.notice, terms)

        # Candidates: the nearest vectors and the best full-text matches; every one of them
        # is then scored on every term, standardised over all chunks in scope.
        if vector is None:
            vector = self.embedder.embed([text])[0]
        wanted = max(weights.engine_candidates, 3 * query.k)
        hits = engine.full_text(
            terms, filters, weights.candidates, weights.own_text_boost, keys_for=wanted
        )
        near = engine.nearest(vector, filters, wanted)
        others = np.setdiff1d(np.asarray(hits.keys, np.uint64), near.keys)
        found = (near + engine.describe(vector, others.tolist())).by_key()
        keys = found.keys
        has_vector = ~np.isnan(found.similarity)
        if (
            not hits.keys
            and not named
            and not self._close_enough(found.similarity[has_vector])
            and not engine.full_text(terms, Filters(), 1).keys  # in no file, in scope or not
        ):
            notice = "; ".join(n for n in (self.notice, NOTHING_FOUND) if n)
            return SearchResult([], "hybrid", notice, terms)

        mean, std = engine.similarity_spread(vector, filters)
        mean_b, std_b = 0.0, 1.0
        if hits.scores:
            mean_b, std_b = _z(np.asarray(hits.scores), max(population, hits.total))
        scale = Scale(mean, std, mean_b, std_b, bool(hits.scores))
        keyed = self._facts_as_keys(query, terms, vector, scale)
        unseen = np.setdiff1d(np.fromiter(keyed, np.uint64, len(keyed)), keys)
        if len(unseen):  # messages found only through a fact
            found = (found + engine.describe(vector, unseen.tolist())).by_key()
            keys, has_vector = found.keys, ~np.isnan(found.similarity)
        present = set(keys[has_vector].tolist())  # not a source message deleted since
        keyed = {message: by for message, by in keyed.items() if message in present}
        raw = np.zeros(len(keys))
        if hits.scores:
            matched = np.asarray(hits.keys, np.uint64)  # the best hits: all candidates
            raw[np.searchsorted(keys, matched)] = hits.scores[: len(matched)]
        own = scale.own_text(weights, found.similarity, raw)
        bm25 = (raw - mean_b) / std_b if hits.scores else raw
        context = np.zeros(len(keys))
        sessions, session_population = self._session_scores(terms, filters)
        if sessions:
            values = np.asarray(list(sessions.values()))
            mean_s, std_s = _z(values, session_population)
            context += weights.session_weight * np.array(
                [(sessions.get(int(s), 0.0) - mean_s) / std_s for s in found.session_keys]
            )
        if len(named) == 1:
            context += weights.author_weight * np.array(
                [author == named[0] for author in found.authors]
            )
        # A full-text hit without a vector yet (just written) ranks on its words alone.
        fused = np.where(has_vector, own + context, weights.bm25_weight * bm25)
        if keyed:  # a message found by facts drawn from it: the best fact's score adds
            where = np.searchsorted(keys, np.fromiter(keyed, np.uint64, len(keyed)))
            fused[where] += weights.fact_weight * np.array(
                [max(by.score, 0.0) for by in keyed.values()]
            )
        fused, docs = self._with_neighbours(keys, found.session_keys, fused)
        beside: dict[int, list[tuple[int, float]]] = {}
        if keyed and _asks(query, "fact"):  # a fact shows beside the message it found, the
            place = {int(key): i for i, key in enumerate(keys)}  # pair as the better of them
            for message, by in keyed.items():
                facts = [(f, float(fused[place[f]]) if f in place else None) for f in by.facts]
                best = max([fused[place[message]], *(s for _f, s in facts if s is not None)])
                fused[place[message]] = best
                beside[message] = [(f, best if s is None else s) for f, s in facts]
        ranked = [(float(fused[i]), int(keys[i])) for i in best_first(fused, query.k * 3)]
        shown = self._hits(ranked, query.k, terms, beside, docs)
        return SearchResult(shown, "hybrid", self.notice, terms)

    def _with_neighbours(
        self, keys: np.ndarray, session_keys: np.ndarray, fused: np.ndarray
    ) -> tuple[np.ndarray, dict[int, dict[str, Any]]]:
        """``fused`` with each of the best candidate messages that replies to a question
        given ``neighbour_weight`` times that question's score (when positive and the
        question is among the best candidates too): the answer is often what a query is
        after, and the question what matches its words. Also the stored fields of those best
        candidates (fetched to see who follows whom; the hits reuse them)."""
        share = self.settings.neighbour_weight
        if share <= 0:
            return fused, {}
        pool = best_first(fused, NEIGHBOUR_POOL)
        # A question and its reply are two candidates of one session: only those are read
        # (each document read maps pages of the index; in a large vault few candidates
        # share a session).
        sessions, counts = np.unique(session_keys[pool], return_counts=True)
        pool = pool[np.isin(session_keys[pool], sessions[counts > 1])]
        docs = self.engine.fetch([int(keys[i]) for i in pool])
        spans: list[tuple[int, str, int]] = []  # (place, path, first line) of each message
        asking: dict[tuple[str, int], int] = {}  # (path, last line): place, of questions
        for i in pool:
            fields = first_values(docs.get(int(keys[i])) or {})
            if fields.get("kind") == "message":
                path = str(fields.get("path", ""))
                spans.append((int(i), path, int(fields.get("line_start") or 0)))
                if "?" in str(fields.get("text", "")):
                    asking[(path, int(fields.get("line_end") or 0))] = int(i)
        shared = fused.copy()
        for i, path, start in spans:
            question = asking.get((path, start - 1))
            if question is not None:
                shared[i] += share * max(float(fused[question]), 0.0)
        return shared, docs

    def _facts_as_keys(
        self, query: MemoryQuery, terms: list[str], vector: np.ndarray, scale: Scale
    ) -> dict[int, FoundByFacts]:
        """Facts as further keys of the messages they were drawn from: by message key, the
        best score of the query's ``query.k`` best facts drawn from it (on their own text,
        standardised as the chunks in the query's scope are: ``scale``) and those facts'
        keys. Only for a query for messages restricted by nothing but kinds: a fact has no
        session, role or time of its own to filter on."""
        filters = query.only()
        if not _asks(query, "message") or not dataclasses.replace(filters, kinds=()).is_empty():
            return {}
        engine, weights = self.engine, self.settings
        scope = Filters(kinds=("fact",))
        wanted = 5 * query.k  # candidates enough for the k best facts (LoCoMo tune: as 200)
        near = engine.nearest(vector, scope, wanted)
        if not len(near.keys):
            return {}
        hits = engine.full_text(terms, scope, wanted, weights.own_text_boost)
        others = np.setdiff1d(np.asarray(hits.keys, np.uint64), near.keys)
        found = (near + engine.describe(vector, others.tolist())).by_key()
        bm25 = np.zeros(len(found.keys))
        if hits.keys:
            bm25[np.searchsorted(found.keys, np.asarray(hits.keys, np.uint64))] = hits.scores
        score = scale.own_text(weights, found.similarity, bm25)
        best = [(float(score[i]), int(found.keys[i])) for i in best_first(score, query.k)]
        docs = engine.fetch([key for _score, key in best])
        keyed: dict[int, FoundByFacts] = {}
        for fact_score, fact in best:
            for source in (docs.get(fact) or {}).get("sources", []):
                message = source_message_key(str(source))
                if message is not None:
                    keyed.setdefault(message, FoundByFacts(fact_score)).facts.append(fact)
        return keyed

    def _close_enough(self, similarity: np.ndarray) -> bool:
        """Whether the closest of these passages reaches the "nothing found" floor."""
        floor = self.settings.nothing_found_floor
        return bool(len(similarity)) and float(similarity.max()) >= floor

    def _full_text(self, query: MemoryQuery, text: str) -> SearchResult:
        terms = analyze(text)
        filters = query.only()
        hits: TermHits = self.engine.full_text(
            terms, filters, self.settings.candidates, self.settings.own_text_boost
        )
        population = max(self.engine.chunk_count(), 1)
        ranked: list[tuple[float, int]] = []
        if hits.keys:
            mean_b, std_b = _z(np.asarray(hits.scores), population)
            sessions, session_population = self._session_scores(terms, filters)
            mean_s, std_s = _z(np.asarray(list(sessions.values()) or [0.0]), session_population)
            for key, session_key, score in zip(
                hits.keys, hits.session_keys, hits.scores, strict=True
            ):
                fused = self.settings.bm25_weight * (score - mean_b) / std_b
                if session_key in sessions:
                    fused += self.settings.session_weight * (sessions[session_key] - mean_s) / std_s
                ranked.append((fused, key))
        ranked.sort(reverse=True)
        return SearchResult(self._hits(ranked, query.k, terms), "full-text", self.notice, terms)

    def _hits(
        self,
        ranked: list[tuple[float, int]],
        k: int,
        terms: list[str],
        beside: Mapping[int, list[tuple[int, float]]] | None = None,
        fetched_already: Mapping[int, dict[str, Any]] | None = None,
    ) -> list[Hit]:
        """The first ``k`` results of ``ranked`` (a text held twice, as a copied message, shows
        once). ``beside``: by message, facts (and their scores) shown right after it, the pair
        one result (not where the facts rank on their own). ``fetched_already``: stored fields
        of chunks the caller has read."""
        beside = beside or {}
        ranked = ranked[: k * 3]  # room for the duplicates dropped below
        listed = {key for _score, key in ranked}
        shown = {f for m, facts in beside.items() if m in listed for f, _score in facts}
        docs: dict[int, dict[str, Any]] = dict(fetched_already or {})
        fetched = results = 0
        hits: list[Hit] = []
        seen: set[tuple[str, str]] = set()
        for place, (score, key) in enumerate(ranked):
            if place >= fetched:  # a page at a time: just what is still missing, and one
                # more (each document read maps pages of the index into memory)
                fetched = place + k - results + 1
                page = [key for _s, key in ranked[place:fetched]]
                page += [f for m in page for f, _score in beside.get(m, ())]
                docs.update(self.engine.fetch([key for key in page if key not in docs]))
            hit = None if key in shown else self._hit(docs.get(key), score, terms, seen)
            if hit is None:
                continue
            hits.append(hit)
            shown.add(key)
            for fact, fact_score in beside.get(key, ()):
                extra = self._hit(docs.get(fact), fact_score, terms, seen)
                if extra is not None:
                    hits.append(dataclasses.replace(extra, attached_to=hit.chunk_id))
            results += 1
            if results == k:
                break
        return hits

    def _hit(
        self,
        doc: dict[str, Any] | None,
        score: float,
        terms: list[str],
        seen: set[tuple[str, str]],
    ) -> Hit | None:
        """The hit of a fetched chunk (None when it is gone, or its text of its kind is in
        ``seen``, to which it is added)."""
        if doc is None:
            return None
        fields = first_values(doc)
        body = str(fields.get("text", ""))
        duplicate = (str(fields.get("kind", "")), " ".join(body.split()))
        if duplicate in seen:
            return None
        seen.add(duplicate)
        fragment, ranges = self.engine.highlight(terms, body)
        stamp = int(fields.get("timestamp") or 0)

        def text(name: str) -> str:
            return str(fields.get(name, ""))

        return Hit(
            chunk_id=text("chunk_id"),
            kind=text("kind"),
            score=score,
            path=text("path"),
            title=text("title"),
            session_id=text("session_id"),
            message_id=text("message_id"),
            line_start=int(fields.get("line_start") or 0),
            line_end=int(fields.get("line_end") or 0),
            timestamp=dt.datetime.fromtimestamp(stamp, dt.UTC) if stamp else None,
            role=text("role"),
            author=text("author"),
            text=body,
            snippet=fragment,
            highlights=tuple(ranges),
            sources=tuple(str(s) for s in doc.get("sources", [])),
        )
