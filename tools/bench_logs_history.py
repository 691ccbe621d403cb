"""The log warehouse over daily batches: does a run's cost follow its batch, not the history?

    python -m tools.bench_logs_history                         # 60 daily batches of 100,000 lines
    python -m tools.bench_logs_history --batches 20 --lines 20000
    make bench-logs-history LOGS_BATCHES=20 LOGS_LINES=20000

Generates (once, cached under --work-dir) one JSON-lines file per day: that day's events from
its users, 70 % of them seen on an earlier day and 30 % new, with 1 % of the lines arriving up
to 3 days late (timestamps of an earlier day), the status codes, event types and bad-line share
of `tools/generate.py`'s logs. Loads them one by one into one root with log_analytics, in
process, and prints per batch its seconds, the bytes and files its Spark scans read (from the
Spark UI's REST API: the input bytes of its stages, the "number of files read" of its SQL
scans, Delta's log included), the dates its aggregates rewrote and the data files its commits
added.

Target (issue 34, point 6): batch N's bytes and files read at most 1.25x batch 5's. Wall times
are printed beside them; on a shared machine they are noise, the work is the gate.
Not a test: figures depend on the machine; compare ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
import urllib.request
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from common import delta
from common.spark import build_session
from jobs import log_analytics
from tools.generate import CLIENT_ERRORS, EVENT_TYPES, EVENT_WEIGHTS, OK_CODES, SERVER_ERRORS

FIRST_DAY = date(2026, 1, 1)
TARGET_RATIO = 1.25
REFERENCE_BATCH = 5
# Keep every stage and SQL execution of the run in the UI's store: each batch is measured from it.
UI_RETAINED = {
    "spark.ui.retainedStages": "100000",
    "spark.ui.retainedJobs": "100000",
    "spark.sql.ui.retainedExecutions": "100000",
}
# Commit metrics naming the data files a commit added (WRITE, MERGE, OPTIMIZE).
ADDED_FILES_METRICS = ("numFiles", "numTargetFilesAdded", "numAddedFiles")


def batch_lines(day: int, args: argparse.Namespace, seen: list[str]) -> tuple[list[str], list[str]]:
    """Day `day`'s file and the users first seen in it: `--users-per-day` users, a
    `--returning` share of them from `seen` (every earlier day's users), each line one of them;
    a `--late` share of the lines stamped up to `--max-late-days` days earlier."""
    rng = random.Random(args.seed * 100_003 + day)
    returning = rng.sample(seen, min(len(seen), int(args.users_per_day * args.returning)))
    new = [f"u{day:04d}-{i:05d}" for i in range(args.users_per_day - len(returning))]
    users = returning + new
    lines = []
    for _ in range(args.lines):
        late = rng.randint(1, min(args.max_late_days, day)) if day and rng.random() < args.late else 0
        on = FIRST_DAY + timedelta(days=day - late)
        second = rng.randrange(86_400)
        roll = rng.random()
        code = rng.choice(SERVER_ERRORS if roll < 0.01 else CLIENT_ERRORS if roll < 0.04 else OK_CODES)
        event = rng.choices(EVENT_TYPES, EVENT_WEIGHTS)[0]
        lines.append(
            f'{{"timestamp":"{on.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z",'
            f'"user_id":"{rng.choice(users)}","event_type":"{event}","status_code":{code}}}'
        )
    return lines, new


def generate(folder: Path, args: argparse.Namespace) -> list[Path]:
    """The daily files, generated once per set of parameters."""
    key = (
        f"b{args.batches}-l{args.lines}-u{args.users_per_day}-r{args.returning}-"
        f"late{args.late}-{args.max_late_days}-s{args.seed}"
    )
    root = folder / "batches" / key
    paths = [root / f"day={d:04d}" / "part-0.jsonl" for d in range(args.batches)]
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        seen: list[str] = []
        for day, path in enumerate(paths):
            path.parent.mkdir(parents=True)
            lines, new = batch_lines(day, args, seen)
            seen.extend(new)
            path.write_text("\n".join(lines) + "\n")
        (root / ".complete").write_text("")
    return paths


class UiProbe:
    """What the Spark application read between two calls, from its UI's REST API: the input
    bytes of the stages that completed and the files its SQL scans read (Delta's log reads
    included: they are Spark scans too)."""

    def __init__(self, spark: SparkSession) -> None:
        self.base = f"{spark.sparkContext.uiWebUrl}/api/v1/applications/{spark.sparkContext.applicationId}"
        self.stages: set[tuple[int, int]] = set()
        self.executions: set[int] = set()
        self.take()

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base}/{path}", timeout=60) as response:
            return json.load(response)

    def settled(self) -> tuple[list[dict], list[dict]]:
        """The stages and SQL executions once the listener bus has caught up (two reads agree)."""
        last = None
        while True:
            stages = self.get("stages?status=complete")
            executions = self.get("sql?details=true&planDescription=false&offset=0&length=1000000")
            now = (len(stages), sum(1 for e in executions if e.get("status") != "RUNNING"), len(executions))
            if now == last:
                return stages, executions
            last = now
            time.sleep(0.5)

    def take(self) -> dict[str, int]:
        """Bytes and files read since the previous call."""
        stages, executions = self.settled()
        new_stages = [s for s in stages if (s["stageId"], s["attemptId"]) not in self.stages]
        new_executions = [e for e in executions if e["id"] not in self.executions and e.get("status") != "RUNNING"]
        self.stages.update((s["stageId"], s["attemptId"]) for s in new_stages)
        self.executions.update(e["id"] for e in new_executions)
        files = 0
        for execution in new_executions:
            for node in execution.get("nodes", []):
                for metric in node.get("metrics", []):
                    if metric["name"] == "number of files read":
                        files += int(str(metric["value"]).replace(",", "").split()[0] or 0)
        return {"bytes_read": sum(int(s.get("inputBytes", 0)) for s in new_stages), "files_read": files}


def versions(spark: SparkSession, root: Path) -> dict[str, int]:
    """The latest version of every Delta table under the root."""
    return {p.name: delta.version(spark, str(p)) for p in sorted(root.iterdir()) if (p / "_delta_log").is_dir()}


def files_added(spark: SparkSession, root: Path, before: dict[str, int]) -> int:
    """Data files the commits since `before` (table versions) added, from their metrics."""
    added = 0
    for name in versions(spark, root):
        history = DeltaTable.forPath(spark, str(root / name)).history()
        for row in history.filter(history.version > before.get(name, -1)).select("operationMetrics").collect():
            metrics = row["operationMetrics"] or {}
            added += sum(int(metrics.get(key, 0)) for key in ADDED_FILES_METRICS)
    return added


def run_batches(spark: SparkSession, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    root = work / "warehouse"
    shutil.rmtree(root, ignore_errors=True)
    probe = UiProbe(spark)
    options = ["--output", str(root), "--max-quarantine-rate", "1", *args.job_args]
    print(f"{'batch':>5} {'seconds':>7} {'MB read':>8} {'files read':>10} {'dates':>5} {'files added':>11}", flush=True)
    results = []
    for number, path in enumerate(generate(work, args), start=1):
        before = versions(spark, root) if root.exists() else {}
        probe.take()
        started = time.perf_counter()
        report = log_analytics.run(spark, log_analytics.parse_args(["--input", str(path), *options]))
        seconds = time.perf_counter() - started
        read = probe.take()
        scope = report["metrics"].get("aggregates", {})
        dates = len(scope["dates"]) if scope.get("scope") == "batch" else "all"
        row = {
            "batch": number,
            "seconds": round(seconds, 2),
            **read,
            "dates_rewritten": dates,
            "files_added": files_added(spark, root, before),
        }
        results.append(row)
        print(
            f"{number:>5} {seconds:>7.1f} {read['bytes_read'] / 1024**2:>8.2f} {read['files_read']:>10} "
            f"{dates!s:>5} {row['files_added']:>11}",
            flush=True,
        )
    return results


def verdicts(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's target: the last batch's bytes and files read against batch 5's."""
    if len(batches) <= REFERENCE_BATCH:
        return {"last_over_batch_5": {"ok": False, "skipped": f"needs more than {REFERENCE_BATCH} batches"}}
    reference, last = batches[REFERENCE_BATCH - 1], batches[-1]
    out = {}
    for key in ("bytes_read", "files_read", "seconds"):
        ratio = last[key] / reference[key] if reference[key] else float("inf")
        verdict = {"batch": last["batch"], "reference": reference[key], "last": last[key], "ratio": round(ratio, 2)}
        # Wall time is reported beside the gate, not judged: it is noise on a shared machine.
        out[f"{key}_last_over_batch_{REFERENCE_BATCH}"] = {**verdict, "ok": ratio <= TARGET_RATIO or key == "seconds"}
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench_logs_history", description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=60, help="daily batches to load")
    parser.add_argument("--lines", type=int, default=100_000, help="lines per daily file")
    parser.add_argument("--users-per-day", type=int, default=None, help="distinct users a day (default: lines / 20)")
    parser.add_argument("--returning", type=float, default=0.7, help="share of a day's users seen before")
    parser.add_argument("--late", type=float, default=0.01, help="share of lines stamped on an earlier day")
    parser.add_argument("--max-late-days", type=int, default=3, help="how late a line can be")
    parser.add_argument("--seed", type=int, default=34)
    parser.add_argument("--work-dir", type=Path, default=Path(".cache/bench/logs_history"))
    parser.add_argument(
        "--job-args", default="", help="more log_analytics arguments, e.g. '--window-minutes 45' (one string)"
    )
    args = parser.parse_args(argv)
    args.job_args = args.job_args.split()
    args.users_per_day = args.users_per_day or max(1, args.lines // 20)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    spark = build_session("bench_logs_history", UI_RETAINED)
    batches = run_batches(spark, args, args.work_dir)
    summary = verdicts(batches)
    for name, verdict in summary.items():
        print(f"{'PASS' if verdict['ok'] else 'MISS'} {name}: {json.dumps(verdict)}", flush=True)
    results = {"arguments": {k: str(v) for k, v in vars(args).items()}, "batches": batches, "targets": summary}
    (args.work_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
