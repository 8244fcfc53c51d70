"""What `ask` costs and finds, on LoCoMo-format conversations, measured in one run.

For every answerable question (categories 1-4), in its own conversation's vault (built as in
bench_locomo.py):
  * context tokens per question vs the whole conversation (anchor: a published memory system
    sends ~1.8k tokens per question against ~26k for the full conversation);
  * evidence recall of the assembled context: the share of evidence turns that are in it;
  * context-building latency p50/p95 through the daemon's socket, warm (target p95 <= 50 ms);
  * `ask` end to end against the Ollama-protocol stand-in (tests/ollama_standin.py, answering
    at once): time to the first streamed piece, which is the time we add.

Usage: python scripts/bench_ask.py --data PATH [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_daemon import percentile, wait_ready  # noqa: E402
from bench_locomo import CATEGORIES, build_vault, evidence_of  # noqa: E402

from amos_vault.answer.context import estimate_tokens  # noqa: E402
from amos_vault.runtime import ipc  # noqa: E402
from tests.ollama_standin import OllamaStandIn  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int, help="only the first N conversations")
    parser.add_argument("--asks", type=int, default=30, help="end-to-end asks per conversation")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    data = json.loads(options.data.read_text())[: options.limit]
    work = Path(tempfile.mkdtemp(prefix="amos-ask-"))
    tokens, full_tokens, recalls, latencies, first_piece = [], [], [], [], []
    standin = OllamaStandIn().start()
    standin.script.reply = lambda request: "An answer [1]."
    try:
        for number, conversation in enumerate(data):
            mirror, dia_of = build_vault(conversation, work / f"vault-{number}", work / "keys")
            mirror.index()
            whole = sum(estimate_tokens(s.export("txt")) for s in mirror.list_sessions())
            questions = [
                q for q in conversation["qa"] if q.get("category") in CATEGORIES and evidence_of(q)
            ]
            daemon = subprocess.Popen(
                [sys.executable, "-m", "amos_vault", "--vault", str(mirror.vault.root), "daemon"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_ready(mirror.vault.amos_dir, daemon, timeout=600)
                for question in questions[:3]:  # warm-up
                    ipc.request(
                        mirror.vault.amos_dir, {"op": "context", "question": question["question"]}
                    )
                for question in questions:
                    started = time.perf_counter()
                    answer = ipc.request(
                        mirror.vault.amos_dir, {"op": "context", "question": question["question"]}
                    )
                    latencies.append((time.perf_counter() - started) * 1000)
                    context = answer["context"]
                    tokens.append(context["tokens"])
                    full_tokens.append(whole)
                    found = {
                        dia_of.get(f"message:{p['path']}#{p['message_id']}")
                        for p in context["pieces"]
                        if p["message_id"]
                    }
                    evidence = set(evidence_of(question))
                    recalls.append(len(evidence & found) / len(evidence))
            finally:
                daemon.terminate()
                daemon.wait(timeout=60)
            mirror.llm_host = standin.url
            for question in questions[: options.asks]:
                started = time.perf_counter()
                seen: list[float] = []
                mirror.ask(
                    question["question"],
                    model="standin:latest",
                    on_piece=lambda _p, seen=seen, started=started: (
                        seen.append(time.perf_counter() - started) if not seen else None
                    ),
                )
                first_piece.append(seen[0] * 1000)
            print(f"  {conversation['sample_id']}: {len(questions)} questions", file=sys.stderr)
    finally:
        standin.stop()
    out = {
        "questions": len(tokens),
        "context_tokens_mean": statistics.fmean(tokens),
        "context_tokens_median": statistics.median(tokens),
        "conversation_tokens_mean": statistics.fmean(full_tokens),
        "context_share": statistics.fmean(t / f for t, f in zip(tokens, full_tokens, strict=True)),
        "context_evidence_recall": statistics.fmean(recalls),
        "context_p50_ms": statistics.median(latencies),
        "context_p95_ms": percentile(latencies, 0.95),
        "first_piece_p50_ms": statistics.median(first_piece),
        "first_piece_p95_ms": percentile(first_piece, 0.95),
    }
    print(
        f"context: {out['context_tokens_mean']:.0f} tokens per question on average (median "
        f"{out['context_tokens_median']:.0f}) vs {out['conversation_tokens_mean']:.0f} "
        f"for the whole conversation ({100 * out['context_share']:.1f}%)"
    )
    print(
        f"evidence recall of the context: {out['context_evidence_recall']:.3f} "
        f"over {out['questions']} questions"
    )
    print(
        f"context building through the daemon: p50 {out['context_p50_ms']:.1f} ms, "
        f"p95 {out['context_p95_ms']:.1f} ms (target p95 <= 50 ms)"
    )
    print(
        f"ask against the stand-in, time to the first streamed piece: p50 "
        f"{out['first_piece_p50_ms']:.0f} ms, p95 {out['first_piece_p95_ms']:.0f} ms"
    )
    if options.json:
        options.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
