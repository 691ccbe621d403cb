"""Table maintenance for the transaction ETL's warehouse: compaction and VACUUM, every N batches.

    every table under --warehouse ─ OPTIMIZE (small files of each date into ~target-size files,
    rows and totals checked equal before/after) ─ VACUUM (files no version younger than the
    retention needs) ─ <output>/run_report.json (also what tells the next run if it is due)

Run it after the ETL, never while the ETL writes (one writer per table: docs/warehouse.md). It
refuses, with one line and before touching anything, a retention that would break the tables'
time travel window (`delta.deletedFileRetentionDuration`, 7 days) or delete change data the
gold refresh has not read yet.

spark-submit --py-files dist/spark_jobs-<version>.zip jobs/maintain_tables.py --warehouse ... --output ...
python -m jobs.maintain_tables --help
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from common import delta
from common.cli import JobArgumentParser, positive_int, run_job
from common.dashboard import add_dashboard_argument
from common.errors import InputError, JobError, ValidationError
from common.fs import join_path, path_exists, read_text
from common.job import JobRun
from common.report import REPORT_FILE
from common.tables import read_table
from jobs.transaction_etl import GOLD, PROFILES, QUARANTINE, SILVER

JOB = "maintain_tables"
# The tables, in the order they are maintained, and the sums compaction must leave unchanged.
TABLES: dict[str, tuple[str, ...]] = {
    SILVER: ("amount",),
    GOLD: ("total_amount", "transaction_count"),
    PROFILES: (),
    QUARANTINE: (),
}
# VACUUM keeps what the last 7 days of versions need: Delta's default deletedFileRetentionDuration,
# which the tables state explicitly; a shorter retention is refused.
DEFAULT_RETAIN_HOURS = 168.0
# Operations on silver that are one ETL batch each (a rerun that changed nothing commits none).
BATCH_OPERATIONS = ("WRITE", "MERGE")


def retain_hours(text: str) -> float:
    """An argparse type: hours, a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of hours, at least 0")
    return value


def build_parser() -> JobArgumentParser:
    """The job's options, as `--help` shows them and its page in docs/jobs/ documents them."""
    parser = JobArgumentParser(
        prog=JOB,
        description="Compact the transaction warehouse's small files and VACUUM files no kept version needs, "
        "every N ETL batches.",
    )
    parser.add_path("--warehouse", "the transaction ETL's --warehouse")
    parser.add_path("--output", "where its run_report.json goes (not the warehouse root: that one is the ETL's)")
    parser.add_argument(
        "--every-batches",
        type=positive_int,
        default=1,
        help="maintain only once this many ETL batches changed the transactions table since the last maintenance",
    )
    parser.add_argument(
        "--retain-hours",
        type=retain_hours,
        default=DEFAULT_RETAIN_HOURS,
        help="VACUUM keeps the files of every version younger than this; shorter than a table's "
        "delta.deletedFileRetentionDuration is refused",
    )
    parser.add_argument(
        "--vacuum-mode",
        choices=delta.VACUUM_MODES,
        default="lite",
        help="lite: find the files to delete in the log's commits since the last VACUUM (falls back to full when "
        "the log no longer reaches back); full: list every file under each table, also deleting files no commit "
        "references (left by a failed write)",
    )
    parser.add_argument(
        "--target-file-mb",
        type=positive_int,
        default=delta.DEFAULT_TARGET_FILE_MB,
        help="size of the files compaction writes, in MiB",
    )
    add_dashboard_argument(parser)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def last_maintained_version(spark: SparkSession, output: str) -> int | None:
    """Silver's version after the last maintenance, from this job's previous report."""
    path = join_path(output, REPORT_FILE)
    if not path_exists(spark, path):
        return None
    try:
        schedule = json.loads(read_text(spark, path))["metrics"]["schedule"]
    except (ValueError, KeyError, TypeError):
        return None
    value = schedule.get("last_maintained_version")
    return None if value is None else int(value)


def table_totals(spark: SparkSession, path: str, sums: Sequence[str], where: str | None = None) -> dict[str, Any]:
    """Row count and column sums of the partitions `where` selects (None: all): what
    compaction must not change."""
    table = read_table(spark, path, "delta")
    if where:
        table = table.where(where)
    row = table.agg(F.count("*"), *(F.sum(c) for c in sums)).first()
    return {"rows": int(row[0]), **{c: str(row[i + 1]) for i, c in enumerate(sums)}}


def compact_checked(spark: SparkSession, path: str, name: str, sums: Sequence[str]) -> tuple[delta.Compaction, dict]:
    """Rewrite the partitions that hold more than one file or a deletion vector, their row count
    and sums compared before and after (a difference stops the run); the other partitions
    compaction would leave as they are, so neither they nor their rows are read. Returns what it
    did and the totals it checked (empty when no partition needed it)."""
    layout = delta.file_layout(spark, path)
    rewritten = delta.partitions_to_rewrite(layout)
    if not rewritten:
        return delta.no_compaction(layout), {}
    where = delta.partition_predicate(rewritten)
    before = table_totals(spark, path, sums, where)
    compaction = delta.compact(spark, path, layout)
    after = table_totals(spark, path, sums, where)
    if before != after:
        raise ValidationError(f"compaction of {name} changed its totals: {before} -> {after}")
    return compaction, {"partitions": len(rewritten), **after}


def pending_reader(spark: SparkSession, paths: dict[str, str]) -> tuple[str, int] | None:
    """The oldest silver version whose change data the gold refresh has not read yet."""
    if GOLD not in paths:
        return None
    built_from = delta.last_source_version(spark, paths[GOLD])
    if built_from is None or built_from >= delta.version(spark, paths[SILVER]):
        return None
    return GOLD, built_from + 1


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Maintain every table when due; returns the run report it wrote."""
    paths = {
        name: join_path(args.warehouse, name)
        for name in TABLES
        if delta.table_exists(spark, join_path(args.warehouse, name))
    }
    if SILVER not in paths:
        raise InputError(f"no {SILVER} table under {args.warehouse}: run transaction_etl first")
    # Read before the run retires this job's previous report, which holds it.
    maintained = last_maintained_version(spark, args.output)
    with JobRun(spark, JOB, args, output=args.output) as run:
        schedule = run.metric("schedule", due_schedule(spark, paths[SILVER], maintained, args.every_batches))
        if not schedule["due"]:
            run.log.info("maintenance not due", extra={"job": JOB, **schedule})
            return run.finish(due=False)
        # Every refusal before any change: a refused run leaves the tables and the last report as they were.
        pending = pending_reader(spark, paths)
        for name, path in paths.items():
            reader = pending if name == SILVER else None
            refusal = delta.vacuum_refusal(spark, path, name, args.retain_hours, reader)
            if refusal:
                raise JobError(f"VACUUM refused: {refusal}")
        # The report's main "input": silver's rows, every one kept (nothing is quarantined). Delta
        # answers a bare count from the log's statistics, without opening a data file.
        run.accept_rows("table", read_table(spark, paths[SILVER], "delta").count(), source=paths[SILVER])
        delta.use_target_file_size(spark, args.target_file_mb)
        for name, path in paths.items():
            run.metric(name, maintain_table(run, name, path, args))
        # The compaction commits are newer than the version recorded: count batches after them.
        schedule["last_maintained_version"] = delta.version(spark, paths[SILVER])
        return run.finish(warehouse=args.warehouse, maintained=sorted(paths))


def due_schedule(spark: SparkSession, silver: str, maintained: int | None, every_batches: int) -> dict[str, Any]:
    """Whether maintenance is due: never done, or `every_batches` ETL batches since it was."""
    batches = delta.commits_after(spark, silver, BATCH_OPERATIONS, maintained)
    return {
        "every_batches": every_batches,
        "batches_since_last_maintenance": batches,
        "due": maintained is None or batches >= every_batches,
        "last_maintained_version": maintained,
    }


def maintain_table(run: JobRun, name: str, path: str, args: argparse.Namespace) -> dict[str, Any]:
    """Compact then VACUUM one table; returns what the report records of it."""
    with run.stage(f"compact_{name}"):
        compaction, checked = compact_checked(run.spark, path, name, TABLES[name])
    with run.stage(f"vacuum_{name}"):
        vacuumed = delta.vacuum(run.spark, path, args.retain_hours, args.vacuum_mode)
    rows = read_table(run.spark, path, "delta").count()
    return {**compaction.as_report(), **vacuumed, "rows": rows, "compacted_totals": checked}


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
