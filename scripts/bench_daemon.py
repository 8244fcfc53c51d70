"""The daemon under measurement: freshness, idle cost, and the warm CLI, in one run.

  1. Freshness: 200 plain file writes (new sessions and edits); time from the write to the
     change being found by search through the socket. p50/p95 (target p95 <= 300 ms).
  2. Idle cost: CPU used by the idle daemon over 60 s (target <= 1% of one core).
  3. Warm CLI: `amosvault search` end to end, process start included, with the daemon
     running vs without it. p50/p95 (target p95 <= 150 ms with the daemon).

Usage: python scripts/bench_daemon.py (--vault PATH | --sessions N) [--idle 60] [--json OUT]
--vault takes an existing vault (e.g. the one scripts/bench_scale.py built, already indexed);
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
        latencies = freshness(vault, amos, options.writes)
        out.update(
            fresh_p50_ms=statistics.median(latencies), fresh_p95_ms=percentile(latencies, 0.95)
        )
        time.sleep(2)  # let the last write settle before measuring idleness
        before, started = cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(options.idle)
        used = cpu_seconds(daemon.pid) - before
        out["idle_cpu_percent"] = 100 * used / (time.monotonic() - started)
        warm = cli_times(vault, options.cli_runs)
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
        f"p95 {out['cli_daemon_p95_ms']:.0f} ms (target p95 <= 150 ms); without it p50 "
        f"{out['cli_alone_p50_ms']:.0f} ms, p95 {out['cli_alone_p95_ms']:.0f} ms"
    )
    if options.json:
        options.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
