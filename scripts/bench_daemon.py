"""The daemon under measurement: freshness, idle cost, and the warm CLI, in one run.

  1. Freshness: 200 plain file writes (new sessions and edits); time from the write to the
     change being found by search through the socket. p50/p95 (target p95 <= 300 ms).
  2. Idle cost: CPU used by the idle daemon over 60 s (target <= 1% of one core).
  3. Warm CLI: `amosvault search` end to end, process start included, with the daemon
     running vs without it. p50/p95 (target p95 <= 120 ms with the daemon).
  4. Memory: the daemon's peak RSS (VmHWM) after start-up, after the writes, and after
     ``--searches`` varied searches through the socket (target <= 300 MB at 120k chunks).
     Scheduled jobs run as configured: turn them off in the vault's settings to measure
     search alone, or leave them on to include consolidation.

Usage: python scripts/bench_daemon.py (--vault PATH | --sessions N) [--idle 60] [--json OUT]
--vault takes an existing vault (e.g. the one scripts/bench_scale.py built, already indexed):
the freshness probe writes 50 sessions into its sessions/freshness/ folder, so give it a copy;
--sessions generates and indexes a new one first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from amos_vault.runtime import ipc

HERE = Path(__file__).resolve().parent
SESSION = """---
id: {id}
title: Freshness {n}
status: active
---

**user** · 2026-11-20 10:00:00Z ^m-00000001

{text}
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1) + 0.5))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(amos: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the daemon exited during start-up")
        try:
            if ipc.request(amos, {"op": "status"}, timeout=5)["status"]["phase"] == "watching":
                return
        except ipc.DaemonUnavailable:
            pass
        time.sleep(0.1)
    raise SystemExit("the daemon was not ready in time")


def memory_mb(pid: int) -> dict[str, float]:
    """The process's peak and current resident memory (VmHWM, VmRSS) in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmHWM", "VmRSS")}


def searches(amos: Path, count: int) -> None:
    """``count`` varied three-word searches through the socket (bench_scale's topics)."""
    import random

    sys.path.insert(0, str(HERE))
    from bench_scale import TOPICS

    rng = random.Random(11)
    for _ in range(count):
        words = rng.sample(TOPICS[rng.choice(list(TOPICS))].split(), 3)
        ipc.request(amos, {"op": "search", "query": {"text": " ".join(words), "k": 10}}, timeout=60)


def found(amos: Path, token: str) -> bool:
    hits = ipc.request(amos, {"op": "search", "query": {"text": token, "k": 3}}, timeout=30)["hits"]
    return any(token in hit["text"] for hit in hits)


def freshness(vault: Path, amos: Path, writes: int) -> list[float]:
    folder = vault / "sessions" / "freshness"
    folder.mkdir(parents=True, exist_ok=True)
    latencies = []
    for n in range(writes):
        token = f"zqx{n:04d}token"
        path = folder / f"f{n % 50:03d}.md"  # the first 50 create files, the rest edit them
        started = time.perf_counter()
        path.write_text(SESSION.format(id=f"fresh{n % 50:04d}", n=n, text=f"Probe {token}."))
        deadline = started + 30
        while not found(amos, token):
            if time.perf_counter() > deadline:
                raise SystemExit(f"write {n} never reached search")
            time.sleep(0.005)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def cli_times(vault: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "amos_vault",
                "--vault",
                str(vault),
                "search",
                "budget",
                "-k",
                "5",
            ],
            check=True,
            capture_output=True,
        )
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vault", type=Path)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--cli-runs", type=int, default=20)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    vault = options.vault
    if vault is None:
        sys.path.insert(0, str(HERE))
        from bench_scale import generate

        work = Path(tempfile.mkdtemp(prefix="amos-daemon-bench-"))
        vault = work / "vault"
        generate(vault, options.sessions, work / "keys")
        subprocess.run(
            [sys.executable, "-m", "amos_vault", "--vault", str(vault), "index"], check=True
        )
    vault = vault.resolve()
    amos = vault / ".amos"
    files = sum(1 for _ in (vault / "sessions").rglob("*.md"))
    out: dict = {"vault_files": files}

    daemon = subprocess.Popen(
        [sys.executable, "-m", "amos_vault", "--vault", str(vault), "daemon"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(amos, daemon, timeout=3600)
        out["rss_ready"] = memory_mb(daemon.pid)
        latencies = freshness(vault, amos, options.writes)
        out["rss_after_writes"] = memory_mb(daemon.pid)
        searches(amos, options.searches)
        out["rss_after_searches"] = memory_mb(daemon.pid)
        out.update(
            fresh_p50_ms=statistics.median(latencies), fresh_p95_ms=percentile(latencies, 0.95)
        )
        time.sleep(2)  # let the last write settle before measuring idleness
        before, started = cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(options.idle)
        used = cpu_seconds(daemon.pid) - before
        out["idle_cpu_percent"] = 100 * used / (time.monotonic() - started)
        warm = cli_times(vault, options.cli_runs)
        out["rss_end"] = memory_mb(daemon.pid)
        out.update(
            cli_daemon_p50_ms=statistics.median(warm), cli_daemon_p95_ms=percentile(warm, 0.95)
        )
    finally:
        daemon.terminate()
        daemon.wait(timeout=120)
    cold = cli_times(vault, max(5, options.cli_runs // 4))
    out.update(cli_alone_p50_ms=statistics.median(cold), cli_alone_p95_ms=percentile(cold, 0.95))

    print(f"vault: {files} session files")
    print(
        f"freshness ({options.writes} writes): p50 {out['fresh_p50_ms']:.0f} ms, "
        f"p95 {out['fresh_p95_ms']:.0f} ms (target p95 <= 300 ms)"
    )
    print(
        f"idle daemon: {out['idle_cpu_percent']:.2f}% of one core over {options.idle:.0f} s "
        "(target <= 1%)"
    )
    print(
        f"`amosvault search` end to end: with the daemon p50 {out['cli_daemon_p50_ms']:.0f} ms, "
        f"p95 {out['cli_daemon_p95_ms']:.0f} ms (target p95 <= 120 ms); without it p50 "
        f"{out['cli_alone_p50_ms']:.0f} ms, p95 {out['cli_alone_p95_ms']:.0f} ms"
    )
    phases = ("ready", "after_writes", "after_searches", "end")
    print(
        "daemon memory (VmRSS / peak VmHWM, MB): "
        + ", ".join(
            f"{phase.replace('_', ' ')} {out['rss_' + phase]['VmRSS']:.0f} / "
            f"{out['rss_' + phase]['VmHWM']:.0f}"
            for phase in phases
        )
        + " (target peak <= 300 MB at 120k chunks)"
    )
    if options.json:
        options.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
