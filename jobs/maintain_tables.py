"""Table maintenance for a transaction warehouse (transaction_etl) or a log warehouse
(log_analytics), told apart by what the root holds (common/roots.py): retention, compaction and
VACUUM, every N batches.

    --warehouse ─ its kind ─ due? (batches of its main table since the last maintenance)
      ─ retention (--retain-days: rows older than that DELETEd, in commits tagged as maintenance)
      ─ every table: OPTIMIZE (small files of each date into ~target-size files, deletion vectors
        purged; rows and totals checked equal before/after) ─ VACUUM (files no version younger
        than the retention needs) ─ <output>/run_report.json (also what tells the next run if it is due)

Run it after the loading job, never while it writes (one writer per table: docs/warehouse.md).
It refuses, with one line and before touching anything, a retention that would break the
tables' time travel window (`delta.deletedFileRetentionDuration`, 7 days) or delete change data
the gold refresh has not read yet. Its commits change no row the aggregates are built from
(compaction) or are tagged (retention, `delta.MAINTENANCE_METADATA`): neither the ETL's gold
refresh nor log_analytics takes them for changes, so the aggregates of retained-away days stay.

spark-submit --py-files dist/spark_jobs-<version>.zip jobs/maintain_tables.py --warehouse ... --output ...
python -m jobs.maintain_tables --help
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
from common.roots import LOG_ROOT, TRANSACTION_ROOT, root_kind
from common.tables import read_table
from jobs import log_analytics, transaction_etl
from jobs.transaction_etl import GOLD, PROFILES, QUARANTINE, SILVER
from schemas.quarantine import INGESTION_DATE

JOB = "maintain_tables"
# The transaction warehouse's tables, in the order they are maintained, and the sums compaction
# must leave unchanged.
TABLES: dict[str, tuple[str, ...]] = {
    SILVER: ("amount",),
    GOLD: ("total_amount", "transaction_count"),
    PROFILES: (),
    QUARANTINE: (),
}
# The log warehouse's: its state (Delta whatever its --format), then the aggregates that are Delta.
LOG_TABLES: dict[str, tuple[str, ...]] = {
    log_analytics.EVENTS_TABLE: ("status_code",),
    log_analytics.QUARANTINE_TABLE: (),
    log_analytics.LEDGER_TABLE: ("rows_read",),
    **{name: () for name in log_analytics.AGGREGATES},
}
# VACUUM keeps what the last 7 days of versions need: Delta's default deletedFileRetentionDuration,
# which the tables state explicitly; a shorter retention is refused.
DEFAULT_RETAIN_HOURS = 168.0
# Operations on the main table that are one batch each (a rerun that changed nothing commits none).
BATCH_OPERATIONS = ("WRITE", "MERGE")
# --retain-days families: the table and the date its rows are kept by.
SILVER_FAMILY, EVENTS_FAMILY, QUARANTINE_FAMILY = "silver", "events", "quarantine"
FAMILIES = (SILVER_FAMILY, EVENTS_FAMILY, QUARANTINE_FAMILY)


@dataclass(frozen=True)
class Root:
    """What maintenance knows of a kind of root: its tables, the table whose batches set the
    schedule (and whose rows the report accounts), and the tables retention deletes from."""

    kind: str
    loaded_by: str
    main: str
    tables: Mapping[str, tuple[str, ...]]
    retention: Mapping[str, tuple[str, str]]  # family -> (table, date column)


ROOTS = {
    TRANSACTION_ROOT: Root(
        TRANSACTION_ROOT,
        "transaction_etl",
        SILVER,
        TABLES,
        {SILVER_FAMILY: (SILVER, transaction_etl.PARTITION), QUARANTINE_FAMILY: (QUARANTINE, INGESTION_DATE)},
    ),
    LOG_ROOT: Root(
        LOG_ROOT,
        "log_analytics",
        log_analytics.EVENTS_TABLE,
        LOG_TABLES,
        {
            EVENTS_FAMILY: (log_analytics.EVENTS_TABLE, log_analytics.PARTITION),
            QUARANTINE_FAMILY: (log_analytics.QUARANTINE_TABLE, INGESTION_DATE),
        },
    ),
}


def retain_days(text: str) -> tuple[str, int]:
    """An argparse type: FAMILY=DAYS, a family of `FAMILIES` and a whole number of days >= 1."""
    family, equals, days = text.partition("=")
    family = family.strip()
    if not equals or family not in FAMILIES:
        raise argparse.ArgumentTypeError(f"{text!r} is not FAMILY=DAYS with FAMILY one of {', '.join(FAMILIES)}")
    try:
        value = int(days)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {days!r} is not a whole number of days") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: keep at least 1 day")
    return family, value


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
        description="Delete rows older than their retention, compact small files and VACUUM files no kept version "
        "needs in a transaction warehouse or a log warehouse, every N batches.",
    )
    parser.add_path(
        "--warehouse", "the transaction ETL's --warehouse or log_analytics' --output (found from what it holds)"
    )
    parser.add_path("--output", "where its run_report.json goes (not the warehouse root: the loading job's)")
    parser.add_argument(
        "--every-batches",
        type=positive_int,
        default=1,
        help="maintain only once this many batches changed the main table (transactions; a log warehouse's events) "
        "since the last maintenance",
    )
    parser.add_argument(
        "--retain-days",
        type=retain_days,
        action="append",
        metavar="FAMILY=DAYS",
        help="delete the rows of a table family older than DAYS days (silver by transaction_date, events by "
        "event_date, quarantine by ingestion_date); repeat it per family; the aggregates of those days are kept",
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
    parser = build_parser()
    args = parser.parse_args(argv)
    families = [family for family, _ in args.retain_days or ()]
    repeated = sorted({family for family in families if families.count(family) > 1})
    if repeated:
        parser.error(f"--retain-days {', '.join(repeated)} given more than once")
    return args


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
    """The oldest silver version whose change data the gold refresh has not read yet. Maintenance
    commits have none it reads (compaction writes none; the refresh skips a retention DELETE's)."""
    if GOLD not in paths:
        return None
    built_from = delta.last_source_version(spark, paths[GOLD])
    if built_from is None or built_from >= delta.version(spark, paths[SILVER]):
        return None
    changing = delta.changing_versions(spark, paths[SILVER], built_from)
    if changing is None:
        return GOLD, built_from + 1
    return (GOLD, changing[0]) if changing else None


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Maintain every table of the root when due; returns the run report it wrote."""
    kind = root_kind(spark, args.warehouse, "nothing maintained")
    if kind not in ROOTS:
        raise InputError(f"{args.warehouse} is a {kind}: it keeps no warehouse tables to maintain")
    root = ROOTS[kind]
    retention = dict(args.retain_days or ())
    unknown = sorted(set(retention) - set(root.retention))
    if unknown:
        raise InputError(
            f"--retain-days {', '.join(unknown)}: a {root.kind} has no such table family "
            f"(its families: {', '.join(root.retention)})"
        )
    paths = {
        name: join_path(args.warehouse, name)
        for name in root.tables
        if delta.table_exists(spark, join_path(args.warehouse, name))
    }
    if root.main not in paths:
        raise InputError(f"no {root.main} table under {args.warehouse}: run {root.loaded_by} first")
    # Read before the run retires this job's previous report, which holds it.
    maintained = last_maintained_version(spark, args.output)
    with JobRun(spark, JOB, args, output=args.output) as run:
        run.metric("root", root.kind)
        schedule = run.metric("schedule", due_schedule(spark, paths[root.main], maintained, args.every_batches))
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
        # The report's main "input": the main table's rows, every one kept (nothing is quarantined).
        # Delta answers a bare count from the log's statistics, without opening a data file.
        rows = read_table(spark, paths[root.main], "delta").count()
        if rows:
            run.accept_rows("table", rows, source=paths[root.main])
        else:
            run.accept_nothing_new("table", paths[root.main])
        if retention:
            with run.stage("retention"):
                run.metric("retention", apply_retention(spark, root, paths, retention, today()))
        delta.use_target_file_size(spark, args.target_file_mb)
        for name, path in paths.items():
            run.metric(name, maintain_table(run, name, path, root.tables[name], args))
        # The maintenance commits are newer than the version recorded: count batches after them.
        schedule["last_maintained_version"] = delta.version(spark, paths[root.main])
        return run.finish(warehouse=args.warehouse, maintained=sorted(paths))


def today() -> date:
    """The day retention counts back from (UTC)."""
    return datetime.now(UTC).date()


def apply_retention(
    spark: SparkSession, root: Root, paths: Mapping[str, str], retention: Mapping[str, int], on: date
) -> dict[str, dict[str, Any]]:
    """DELETE, per family, the rows dated before `on` minus its days, in one commit per table
    tagged as maintenance (`delta.MAINTENANCE_METADATA`): the gold refresh and log_analytics
    leave the aggregates of those days as they are. Rows without a date (quarantine rows
    written before it had one, or a table not yet given the column) are kept. The rows stay in
    older versions' files until compaction rewrites them (deletion vectors) and VACUUM, past
    --retain-hours, deletes them."""
    out = {}
    for family, days in sorted(retention.items()):
        table, column = root.retention[family]
        cutoff = on - timedelta(days=days)
        deleted = 0
        # A quarantine of an earlier release gains its date at its loading job's next run.
        if table in paths and column in read_table(spark, paths[table], "delta").columns:
            deleted = delta.delete_rows(
                spark, paths[table], F.col(column) < F.lit(cutoff), user_metadata=delta.MAINTENANCE_METADATA
            )
            if family == SILVER_FAMILY:
                # What a rebuild of gold from silver keeps of gold (transaction_etl.refresh_daily_totals).
                delta.record_retained_from(spark, paths[table], cutoff)
        out[family] = {
            "table": table,
            "date_column": column,
            "retain_days": days,
            "kept_from": cutoff.isoformat(),
            "rows_deleted": deleted,
        }
    return out


def due_schedule(spark: SparkSession, main: str, maintained: int | None, every_batches: int) -> dict[str, Any]:
    """Whether maintenance is due: never done, or `every_batches` batches since it was."""
    batches = delta.commits_after(spark, main, BATCH_OPERATIONS, maintained)
    return {
        "every_batches": every_batches,
        "batches_since_last_maintenance": batches,
        "due": maintained is None or batches >= every_batches,
        "last_maintained_version": maintained,
    }


def maintain_table(run: JobRun, name: str, path: str, sums: Sequence[str], args: argparse.Namespace) -> dict[str, Any]:
    """Compact then VACUUM one table; returns what the report records of it."""
    with run.stage(f"compact_{name}"):
        compaction, checked = compact_checked(run.spark, path, name, sums)
    with run.stage(f"vacuum_{name}"):
        vacuumed = delta.vacuum(run.spark, path, args.retain_hours, args.vacuum_mode)
    rows = read_table(run.spark, path, "delta").count()
    return {**compaction.as_report(), **vacuumed, "rows": rows, "compacted_totals": checked}


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
