"""The warehouse over a year-like run of daily batches: does cost follow the batch, not the table?

    python -m tools.bench_warehouse                      # 60 daily batches of 200,000 rows, then the backfill
    python -m tools.bench_warehouse --batches 12 --rows 50000
    make bench-warehouse BENCH_BATCHES=12 BENCH_ROWS=50000

Generates (once, cached under --work-dir) one JSON-lines batch per day: that day's new
transactions plus ~1 % corrections of transactions up to 30 days old (a share of them moving
to another day), and loads them one by one with the transaction ETL, running table
maintenance after each batch as docs/jobs/maintain_tables.md says (`maintain_tables --every-batches N`: it works
every Nth batch). Per batch it prints the ETL's seconds, the MERGE's own metrics (rows updated
and copied, deletion vectors written, files read / rewritten / added), silver's total files and
the most files any date has.

Then a CDNOW-like backfill: one batch of ~70,000 rows over 546 dates into an empty warehouse.

Targets (issue 35): in every batch, the MERGE copies at most the rows it updates (it rewrites
what it changes, not whole dates); once the correction window is full, the mean files read and
ETL wall time over the last maintenance cycle (batches 54-60 of 60) are at most 1.1x the means
over the first full cycle after the window filled (29-35); at most 4 files per date after
maintenance; the backfill in at most 40 s with one file per date; gold equals silver's
aggregate at the end.
Not a test: figures depend on the machine; compare ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from common import delta
from common.spark import build_session
from common.tables import read_table
from jobs import maintain_tables, transaction_etl

FIRST_DAY = date(2026, 1, 1)
USERS = 20_000
TARGET_RATIO = 1.1
MAX_FILES_PER_DATE = 4
BACKFILL_SECONDS = 40.0


def batch_lines(day: int, rows: int, corrections: float, max_late: int, moving: float, seed: int) -> list[str]:
    """Day `day`'s batch: `rows` new transactions, plus corrections of earlier days' ones.

    Transaction ids encode their original day and index, so a correction can name one without
    reading the warehouse. A correction has a later timestamp (so it wins the MERGE): late the
    same day, or, for a `moving` share, on a later day up to the batch's own.
    """
    rng = random.Random(seed * 100_003 + day)
    today = FIRST_DAY + timedelta(days=day)
    lines = []
    for i in range(rows):
        second = rng.randrange(0, 86_000)
        stamp = f"{today.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
        amount = f"{rng.randrange(-2_000, 50_000) / 100:.2f}"
        lines.append(
            f'{{"transaction_id":"d{day:04d}-{i:07d}","user_id":"u{rng.randrange(USERS):05d}",'
            f'"timestamp":"{stamp}","amount":{amount}}}'
        )
    if day > 0:
        for _ in range(int(rows * corrections)):
            late = rng.randint(1, min(max_late, day))
            original = day - late
            moved = rng.random() < moving
            on = FIRST_DAY + timedelta(days=original + (rng.randint(1, late) if moved else 0))
            stamp = f"{on.isoformat()}T23:59:{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z"
            lines.append(
                f'{{"transaction_id":"d{original:04d}-{rng.randrange(rows):07d}","user_id":"u{rng.randrange(USERS):05d}",'
                f'"timestamp":"{stamp}","amount":"{rng.randrange(1, 90_000) / 100:.2f}"}}'
            )
    rng.shuffle(lines)
    return lines


def generate(folder: Path, args: argparse.Namespace) -> list[Path]:
    """The daily batches, generated once per set of parameters."""
    key = f"b{args.batches}-r{args.rows}-c{args.corrections}-l{args.max_late_days}-m{args.moving}-s{args.seed}"
    root = folder / "batches" / key
    paths = [root / f"day={d:04d}" for d in range(args.batches)]
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        for day, path in enumerate(paths):
            path.mkdir(parents=True)
            lines = batch_lines(day, args.rows, args.corrections, args.max_late_days, args.moving, args.seed)
            (path / "part-0.jsonl").write_text("\n".join(lines) + "\n")
        (root / ".complete").write_text("")
    return paths


def backfill_lines(rows: int, dates: int, seed: int) -> list[str]:
    """CDNOW-like: a few purchases per customer spread over `dates` days."""
    rng = random.Random(seed)
    lines = []
    for i in range(rows):
        day = FIRST_DAY + timedelta(days=rng.randrange(dates))
        lines.append(
            f'{{"transaction_id":"cd-{i:07d}","user_id":"c{rng.randrange(23_570):05d}",'
            f'"timestamp":"{day.isoformat()}T00:00:00Z","amount":{rng.randrange(0, 30_000) / 100:.2f}}}'
        )
    return lines


def gold_matches_silver(spark: SparkSession, warehouse: Path) -> bool:
    expected = transaction_etl.daily_user_totals(read_table(spark, str(warehouse / "transactions"), "delta"))
    gold = read_table(spark, str(warehouse / "daily_user_totals"), "delta").select(*expected.columns)
    return expected.exceptAll(gold).isEmpty() and gold.exceptAll(expected).isEmpty()


def run_batches(spark: SparkSession, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    warehouse = work / "warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    shutil.rmtree(work / "maintenance", ignore_errors=True)
    silver = str(warehouse / "transactions")
    results = []
    header = (
        f"{'batch':>5} {'etl s':>6} {'maint s':>7} {'updated':>8} {'copied':>9} {'dvs':>5} {'read':>5} "
        f"{'rewrit':>6} {'added':>5} "
        f"{'files':>6} {'max/date':>8}"
    )
    print(header, flush=True)
    for number, batch in enumerate(generate(work, args), start=1):
        started = time.perf_counter()
        report = transaction_etl.run(
            spark,
            transaction_etl.parse_args(
                ["--transactions", str(batch), "--warehouse", str(warehouse), "--batch-id", batch.name]
            ),
        )
        etl_seconds = time.perf_counter() - started
        maintenance = ["--warehouse", str(warehouse), "--output", str(work / "maintenance")]
        maintenance += ["--every-batches", str(args.maintain_every)]
        started = time.perf_counter()
        maintained = maintain_tables.run(
            spark,
            maintain_tables.parse_args(maintenance),
        )
        maint_seconds = time.perf_counter() - started
        cost = report["metrics"]["merge_transactions_cost"]
        row = {
            "batch": number,
            "etl_seconds": round(etl_seconds, 2),
            "maintenance_seconds": round(maint_seconds, 2),
            "maintained": maintained["metrics"]["schedule"]["due"],
            "rows_updated": report["metrics"]["merge_transactions"]["updated"],
            "rows_copied": cost["rows_copied"],
            "deletion_vectors_added": cost["deletion_vectors_added"],
            "files_read": cost["files_read"],
            "files_rewritten": cost["files_removed"],
            "files_added": cost["files_added"],
            "dates_merged": cost["dates_merged"],
            "total_files": delta.file_count(spark, silver),
            "max_files_per_date": delta.max_files_per_partition(spark, silver),
        }
        results.append(row)
        print(
            f"{number:>5} {etl_seconds:>6.1f} {maint_seconds:>7.1f}{'*' if row['maintained'] else ' '}"
            f"{row['rows_updated']:>8} {row['rows_copied']:>9} {row['deletion_vectors_added']:>5} "
            f"{row['files_read']:>5} {row['files_rewritten']:>6} {row['files_added']:>5} "
            f"{row['total_files']:>6} {row['max_files_per_date']:>8}",
            flush=True,
        )
    results[-1]["gold_equals_silver"] = gold_matches_silver(spark, warehouse)
    return results


def run_backfill(spark: SparkSession, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    source = work / "backfill" / f"r{args.backfill_rows}-d{args.backfill_dates}"
    if not (source / "part-0.jsonl").exists():
        source.mkdir(parents=True, exist_ok=True)
        lines = backfill_lines(args.backfill_rows, args.backfill_dates, args.seed)
        (source / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    warehouse = work / "backfill-warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    started = time.perf_counter()
    transaction_etl.run(
        spark, transaction_etl.parse_args(["--transactions", str(source), "--warehouse", str(warehouse)])
    )
    seconds = time.perf_counter() - started
    silver = str(warehouse / "transactions")
    return {
        "seconds": round(seconds, 2),
        "dates": args.backfill_dates,
        "files": delta.file_count(spark, silver),
        "max_files_per_date": delta.max_files_per_partition(spark, silver),
        "gold_max_files_per_date": delta.max_files_per_partition(spark, str(warehouse / "daily_user_totals")),
        "gold_equals_silver": gold_matches_silver(spark, warehouse),
    }


def cycles(batches: int, every: int, window_days: int) -> tuple[range, range] | None:
    """(reference, last) maintenance cycles as 1-based batch numbers: the first full cycle after
    the correction window filled (29-35 for a 30-day window, maintenance every 7), and the last
    cycle (54-60 of 60); None when the run is too short to hold both apart."""
    first_full = window_days + 1
    reference_end = -(-first_full // every) * every
    if batches < reference_end + every:
        return None
    return range(reference_end - every + 1, reference_end + 1), range(batches - every + 1, batches + 1)


def mean(batches: list[dict[str, Any]], numbers: range, key: str) -> float:
    return sum(batches[n - 1][key] for n in numbers) / len(numbers)


def verdicts(
    batches: list[dict[str, Any]], backfill: dict[str, Any] | None, every: int = 7, window_days: int = 30
) -> dict[str, Any]:
    """The issue's targets against what was measured."""
    out: dict[str, Any] = {}
    over = [b["batch"] for b in batches if b["rows_copied"] > b["rows_updated"]]
    out["rows_copied_at_most_rows_updated"] = {"batches_over": over, "ok": not over}
    compared = cycles(len(batches), every, window_days)
    if compared is None:
        out["last_cycle_over_reference_cycle"] = {"ok": False, "skipped": "too few batches for two full cycles"}
    else:
        reference, last = compared
        for key in ("files_read", "etl_seconds"):
            base, now = mean(batches, reference, key), mean(batches, last, key)
            ratio = now / base if base else (1.0 if not now else float("inf"))
            out[f"{key}_last_cycle_over_reference"] = {
                "reference": f"{reference.start}-{reference.stop - 1}",
                "last": f"{last.start}-{last.stop - 1}",
                "ratio": round(ratio, 2),
                "ok": ratio <= TARGET_RATIO,
            }
    after = [b["max_files_per_date"] for b in batches if b["maintained"]]
    worst = max(after) if after else max(b["max_files_per_date"] for b in batches)
    out["max_files_per_date_after_maintenance"] = {"value": worst, "ok": worst <= MAX_FILES_PER_DATE}
    out["gold_equals_silver"] = {"ok": bool(batches[-1].get("gold_equals_silver"))}
    if backfill is not None:
        out["backfill"] = {
            "seconds": backfill["seconds"],
            "max_files_per_date": backfill["max_files_per_date"],
            "ok": backfill["seconds"] <= BACKFILL_SECONDS and backfill["max_files_per_date"] <= 1,
        }
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench_warehouse", description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=60, help="daily batches to load")
    parser.add_argument("--rows", type=int, default=200_000, help="new transactions per batch")
    parser.add_argument("--corrections", type=float, default=0.01, help="corrections per new transaction")
    parser.add_argument("--max-late-days", type=int, default=30, help="how late a correction can be")
    parser.add_argument("--moving", type=float, default=0.2, help="share of corrections that move to another day")
    parser.add_argument("--maintain-every", type=int, default=7, help="maintain_tables --every-batches")
    parser.add_argument("--backfill-rows", type=int, default=70_000)
    parser.add_argument("--backfill-dates", type=int, default=546)
    parser.add_argument("--no-backfill", action="store_true")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--work-dir", type=Path, default=Path(".cache/bench/warehouse"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    spark = build_session("bench_warehouse")
    batches = run_batches(spark, args, args.work_dir)
    backfill = None
    if not args.no_backfill:
        backfill = run_backfill(spark, args, args.work_dir)
        print(f"backfill: {json.dumps(backfill)}", flush=True)
    summary = verdicts(batches, backfill, args.maintain_every, args.max_late_days)
    for name, verdict in summary.items():
        print(f"{'PASS' if verdict['ok'] else 'MISS'} {name}: {json.dumps(verdict)}", flush=True)
    results = {"arguments": {k: str(v) for k, v in vars(args).items()}, "batches": batches, "backfill": backfill}
    (args.work_dir / "results.json").write_text(json.dumps({**results, "targets": summary}, indent=2) + "\n")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
