"""Transaction ETL: JSON-lines transactions (and user profiles) into a Delta warehouse, with an
export Redshift loads (the mission's "ETL Pipelines with Amazon EMR").

    lines ─ read once ─> classify by the contract ─┬─> quarantine (raw line, reason, file, batch)
                                                   └─> batch ─ latest per transaction_id ─ MERGE ─> transactions
    transactions' change feed ─> dates touched ─> daily_user_totals (replaceWhere those dates)
    profile lines ─> classify ─> latest per user_id ─ MERGE ─> user_profiles
    then: Parquet export + COPY manifests + SQL for Redshift, and run_report.json, written
    last: the run's completion marker. Delta keeps the symlink manifests of gold and the
    profiles (Redshift Spectrum) current on every commit, for the partitions it touched.

The MERGE costs what the batch touches: it reads only the dates of the batch and the dates its
ids are stored on (found by a scan of silver's transaction_id alone), so a correction that moves
a transaction to another day can never leave a second copy behind; silver's deletion vectors
mark the rows a correction replaces instead of rewriting their dates' files.

spark-submit --py-files dist/spark_jobs-<version>.zip jobs/transaction_etl.py --transactions ... --warehouse ...
python -m jobs.transaction_etl --help
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from common import delta, erasure, redshift
from common.athena import add_database_argument
from common.classify import quarantined_rows, valid_rows
from common.cli import JobArgumentParser, describe_failure, non_negative_int, positive_int, run_job
from common.dashboard import add_dashboard_argument
from common.fs import join_path, list_data_files, path_exists, read_text, write_text
from common.gates import GateDefaults, add_gate_arguments
from common.job import JobRun
from common.lines import read_json_lines
from common.logs import get_logger
from common.rules.transactions import (
    EXACT_NUMBER_FIELDS,
    INGEST_FILE,
    PROFILE_CONTRACT,
    TRANSACTION_CONTRACT,
    daily_totals_expectations,
    profile_expectations,
)
from common.sql import in_predicate
from common.tables import read_table
from schemas import conform_to
from schemas.quarantine import INGESTION_DATE
from schemas.transactions import (
    DAILY_USER_TOTALS,
    ETL_QUARANTINE,
    MONEY,
    RAW_PROFILE,
    RAW_TRANSACTION,
    REDSHIFT_DAILY_USER_TOTALS,
    REDSHIFT_USER_PROFILES,
    TRANSACTIONS,
    USER_PROFILES,
)

JOB = "transaction_etl"
# Quality gates (common/gates.py): the generated days quarantine about 1 %; a day beyond 5 %, or
# under half or over three times the median of the last 7 days, stops before the MERGE.
GATE_DEFAULTS = GateDefaults(max_quarantine_rate=0.05, min_volume_ratio=0.5, max_volume_ratio=3.0, volume_history=7)

# Table folders under --warehouse.
SILVER, GOLD, PROFILES, QUARANTINE, EXPORT = (
    "transactions",
    "daily_user_totals",
    "user_profiles",
    "quarantine",
    "redshift",
)
PARTITION = "transaction_date"
# The change data feed tells the gold refresh which dates a MERGE touched, old dates included.
# Deletion vectors let a correction replace its rows without rewriting their dates' files; they
# rule out the symlink manifest (Athena reads silver natively as Delta, Redshift loads the
# export), which a silver table of an earlier release had: `ensure_table` retires it.
# Statistics (`delta.STATS_COLUMNS`) on the columns worth skipping on, never user_id: silver
# keeps them on its MERGE key, transaction_id; user_profiles merges on user_id, a table of one
# row per user in a few files that its MERGE reads whole.
SILVER_PROPERTIES = {
    delta.CHANGE_DATA_FEED: "true",
    delta.DELETION_VECTORS: "true",
    **delta.layout_properties(manifest=False),
    **delta.stats_columns("transaction_id", "transaction_ts", "amount", "source_file", "batch_id", "ingested_at"),
}
SILVER_RETIRED = (delta.SYMLINK_MANIFEST,)
GOLD_PROPERTIES = {**delta.layout_properties(), **delta.stats_columns("total_amount", "transaction_count")}
PROFILES_PROPERTIES = {
    **delta.layout_properties(),
    **delta.stats_columns("country", "segment", "signup_date", "updated_at", "batch_id", "ingested_at"),
}
QUARANTINE_PROPERTIES = {
    **delta.layout_properties(manifest=False),
    **delta.stats_columns("reason", "source_file", "dataset", "batch_id"),
}
# How late a correction is expected to arrive, in days before the batch's earliest date. The
# MERGE merges an id wherever it is stored; one stored outside this window is merged the same
# way (its date is read and rewritten too) and counted in the report (`dates_outside_window`).
DEFAULT_CORRECTION_WINDOW_DAYS = 30

# "Latest" version of a transaction: later timestamp first; equal timestamps ordered by amount
# then user_id, so every engine and every batch order picks the same winner.
TRANSACTION_VERSION_ORDER = ("transaction_ts", "amount", "user_id")
PROFILE_ATTRIBUTES = ("country", "segment", "signup_date")
# A profile without updated_at is older than any profile with one.
EPOCH = "TIMESTAMP '1970-01-01 00:00:00'"


# ── transforms: DataFrame -> DataFrame, no IO ────────────────────────────────────────────


def to_transactions(classified: DataFrame, batch_id: str, ingested_at: datetime) -> DataFrame:
    """The valid rows as silver rows, with their date (UTC) and ingestion metadata."""
    return (
        classified.transform(valid_rows)
        .withColumns(
            {
                PARTITION: F.to_date("transaction_ts"),
                "source_file": F.col(INGEST_FILE),
                "batch_id": F.lit(batch_id),
                "ingested_at": F.lit(ingested_at),
            }
        )
        .transform(conform_to(TRANSACTIONS))
    )


def latest_per_key(df: DataFrame, key: str, newest_first: Sequence[Column]) -> DataFrame:
    """One row per `key`: the first by `newest_first` (which must order every distinct row).

    One window (a shuffle and sort of the batch) measured faster than first finding the
    repeated keys and ranking only those (a hash aggregate and two joins).
    """
    window = Window.partitionBy(key).orderBy(*newest_first)
    return df.withColumn("_rank", F.row_number().over(window)).filter(F.col("_rank") == 1).drop("_rank")


def latest_transactions(batch: DataFrame) -> DataFrame:
    """Collapse in-batch duplicates of a transaction_id to its latest version."""
    order = [F.col(c).desc() for c in (*TRANSACTION_VERSION_ORDER, "source_file")]
    return latest_per_key(batch, "transaction_id", order)


def newer_transaction_condition() -> str:
    """MERGE update condition: the source version sorts after the stored one (see
    TRANSACTION_VERSION_ORDER). Equal versions leave the row alone, so a rerun changes nothing."""
    source = ", ".join(f"s.{c}" for c in TRANSACTION_VERSION_ORDER)
    target = ", ".join(f"t.{c}" for c in TRANSACTION_VERSION_ORDER)
    return f"struct({source}) > struct({target})"


def daily_user_totals(transactions: DataFrame) -> DataFrame:
    """The seed's aggregate, in money: total and count per user and day. An overflowing total
    becomes null (and fails the expectations) rather than a wrong number."""
    return (
        transactions.groupBy("user_id", PARTITION)
        .agg(F.sum("amount").cast(MONEY).alias("total_amount"), F.count("*").alias("transaction_count"))
        .transform(conform_to(DAILY_USER_TOTALS))
    )


def to_profiles(classified: DataFrame, batch_id: str, ingested_at: datetime) -> DataFrame:
    """Valid profile rows, one per user_id: the latest `updated_at` (ties: deterministic)."""
    profiles = (
        classified.transform(valid_rows)
        .withColumns({"batch_id": F.lit(batch_id), "ingested_at": F.lit(ingested_at)})
        .transform(conform_to(USER_PROFILES))
    )
    order = [F.col("updated_at").desc_nulls_last(), *(F.col(c).desc_nulls_last() for c in PROFILE_ATTRIBUTES)]
    return latest_per_key(profiles, "user_id", order)


def newer_profile_condition() -> str:
    """MERGE update condition: not older than the stored profile, and different from it."""
    differs = " OR ".join(f"NOT (s.{c} <=> t.{c})" for c in (*PROFILE_ATTRIBUTES, "updated_at"))
    return f"coalesce(s.updated_at, {EPOCH}) >= coalesce(t.updated_at, {EPOCH}) AND ({differs})"


def to_quarantine(classified: DataFrame, dataset: str, batch_id: str, ingestion_date: date) -> DataFrame:
    """The quarantined rows of a dataset, with the batch and the run's day (what retention deletes by)."""
    return (
        classified.transform(quarantined_rows)
        .withColumns({"dataset": F.lit(dataset), "batch_id": F.lit(batch_id), INGESTION_DATE: F.lit(ingestion_date)})
        .transform(conform_to(ETL_QUARANTINE))
    )


# ── the job: read, validate and write at the edges ───────────────────────────────────────


def build_parser() -> JobArgumentParser:
    """The job's options, as `--help` shows them and its page in docs/jobs/ documents them."""
    parser = JobArgumentParser(
        prog=JOB,
        description="Load JSON-lines transactions (and user profiles) into Delta tables with MERGE, "
        "refresh the daily totals of the dates they touch, and export them for Redshift.",
    )
    parser.add_path("--transactions", "JSON-lines transactions: file, directory or glob")
    parser.add_path("--profiles", "JSON-lines user profiles to upsert (optional)", required=False)
    parser.add_path("--warehouse", "root of the Delta tables, the export and run_report.json")
    parser.add_argument(
        "--batch-id",
        help="name of this batch in the tables and quarantine (default: the --date, else derived from the "
        "input paths, so rerunning the same inputs replaces, never repeats, their quarantine rows)",
    )
    parser.add_run_date()
    parser.add_argument(
        "--full-export",
        action="store_true",
        help="export every date of daily_user_totals for Redshift, not only the dates this run changed",
    )
    parser.add_argument(
        "--target-file-mb",
        type=positive_int,
        default=delta.DEFAULT_TARGET_FILE_MB,
        help="size of the files written per date partition (and of the export's files), in MiB",
    )
    parser.add_argument(
        "--correction-window-days",
        type=non_negative_int,
        default=DEFAULT_CORRECTION_WINDOW_DAYS,
        help="how many days before the batch's dates corrections are expected; older stored ids are still "
        "merged in place, and counted in the report",
    )
    add_gate_arguments(parser, GATE_DEFAULTS)
    add_database_argument(parser, JOB)
    add_dashboard_argument(parser)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def default_batch_id(args: argparse.Namespace) -> str:
    """A stable id for the same inputs: the processing day when the run has one (a rerun of a
    day replaces that day's quarantine rows), else a digest of the input paths."""
    if getattr(args, "date", None) is not None:
        return args.date.isoformat()
    text = f"transactions={args.transactions};profiles={args.profiles or ''}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Dates:
    """Which dates of a date-partitioned table a step covers: all of them (`values` None), or
    the listed ones, possibly none."""

    values: tuple[date, ...] | None

    @classmethod
    def every(cls) -> Dates:
        return cls(None)

    @classmethod
    def of(cls, values: Sequence[date]) -> Dates:
        return cls(tuple(sorted(set(values))))

    @property
    def is_every(self) -> bool:
        return self.values is None

    @property
    def is_none(self) -> bool:
        return self.values == ()

    def select(self, df: DataFrame, column: str = PARTITION) -> DataFrame:
        """The rows of `df` on these dates."""
        return df if self.values is None else df.filter(F.col(column).isin(list(self.values)))

    def predicate(self, identifier: str = f"`{PARTITION}`") -> str:
        """SQL for these dates, the column quoted as the dialect wants (Spark's replaceWhere by
        default); needs at least one date unless every date is meant."""
        return "TRUE" if self.values is None else in_predicate(identifier, self.values)

    def as_report(self) -> str | list[str]:
        return "all" if self.values is None else [str(d) for d in self.values]


def warehouse_paths(warehouse: str) -> dict[str, str]:
    return {name: join_path(warehouse, name) for name in (SILVER, GOLD, PROFILES, QUARANTINE, EXPORT)}


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Run the pipeline; returns the run report it wrote."""
    batch_id = args.batch_id or default_batch_id(args)
    ingested_at = datetime.now(UTC).replace(microsecond=0)
    paths = warehouse_paths(args.warehouse)
    delta.use_target_file_size(spark, args.target_file_mb)
    with JobRun(spark, JOB, args, output=args.warehouse, recorded={"batch_id": batch_id}) as run:
        erased = erasure.erased_hashes(spark, args.warehouse)
        profiles = classify_profiles(run, args.profiles, erased)
        lines = read_json_lines(spark, args.transactions, RAW_TRANSACTION, exact_numbers=EXACT_NUMBER_FIELDS)
        lines = run.drop_erased(lines, erased, "transactions")
        classified = run.accept_input(lines, TRANSACTION_CONTRACT, source=args.transactions)
        rows = to_transactions(classified, batch_id, ingested_at)
        quarantined = write_quarantine(run, paths, batch_id, classified, profiles)
        merged = merge_batch(run, paths, rows, args.correction_window_days)
        if profiles is not None:
            merge_profiles(run, paths, to_profiles(profiles, batch_id, ingested_at))
        refreshed = refresh_gold(run, paths, merged["version"])
        checks = reconciliation(spark, paths, run.counts, quarantined, merged, refreshed)
        run.reconcile(checks, "tables do not reconcile")
        export_dates = Dates.every() if args.full_export else refreshed[0]
        export_for_redshift(run, paths, export_dates, profiles is not None, args.target_file_mb)
        record_tables(run, paths)
        return run.finish(warehouse=args.warehouse)


# ── stages: each reads and writes the warehouse, times itself and returns a small value ──


def classify_profiles(run: JobRun, profiles: str | None, erased: Sequence[str] = ()) -> DataFrame | None:
    """The profile lines classified (None without --profiles), their accounting in the report;
    the lines of users erased from the warehouse (hashed in `erased`) dropped first."""
    if profiles is None:
        return None
    with run.stage("read_and_classify_profiles"):
        lines = run.drop_erased(read_json_lines(run.spark, profiles, RAW_PROFILE), erased, "profiles")
        classified, accounting = run.classify(lines, PROFILE_CONTRACT, source=profiles)
    run.metric("profiles", accounting)
    return classified


def write_quarantine(
    run: JobRun, paths: dict[str, str], batch_id: str, transactions: DataFrame, profiles: DataFrame | None
) -> int:
    """Replace this batch's rows of the quarantine; returns how many transaction rows it now
    holds for the batch (read back: what reconciliation compares with the input's count)."""
    with run.stage("write_quarantine"):
        day = date.fromisoformat(run.day)
        quarantine = to_quarantine(transactions, "transactions", batch_id, day)
        if profiles is not None:
            quarantine = quarantine.unionByName(to_quarantine(profiles, "profiles", batch_id, day))
        delta.ensure_table(run.spark, paths[QUARANTINE], ETL_QUARANTINE, properties=QUARANTINE_PROPERTIES)
        delta.replace_where(quarantine, paths[QUARANTINE], delta.is_in("batch_id", [batch_id]))
        stored = read_table(run.spark, paths[QUARANTINE], "delta")
        return stored.filter((F.col("batch_id") == batch_id) & (F.col("dataset") == "transactions")).count()


def merge_batch(run: JobRun, paths: dict[str, str], rows: DataFrame, window_days: int) -> dict[str, int]:
    """MERGE the batch's valid `rows`, one per transaction_id (its latest version), into silver,
    reading and rewriting only the dates it can touch; the MERGE's figures, with the in-batch
    duplicates collapsed (and, apart, what it cost).

    The batch is not cached: the MERGE reads it once (Delta materializes a MERGE's source
    itself), a first load writes it once, and the scope is read from `rows`, which come from
    the cached classification.
    """
    with run.stage("merge_transactions"):
        silver = delta.ensure_table(
            run.spark, paths[SILVER], TRANSACTIONS, [PARTITION], SILVER_PROPERTIES, retired=SILVER_RETIRED
        )
        scope = merge_scope(run.spark, paths[SILVER], silver, rows, run.counts["rows_valid"], window_days)
        merged = delta.upsert(
            run.spark,
            paths[SILVER],
            # One row per id by construction; the rules proved every field of it.
            rows.transform(latest_transactions),
            ["transaction_id"],
            newer_transaction_condition(),
            target_filter=scope.target_filter(),
            expected=silver,
        )
    # What the MERGE read: the files on its dates at the version it merged into.
    dates = scope.dates
    read = 0
    if silver.files and not dates.is_none:
        read = delta.files_in(run.spark, paths[SILVER], dates.predicate(), scope.version)
    run.metric("merge_transactions_cost", {**merged.cost(), "files_read": read, **scope.as_report()})
    collapsed = run.counts["rows_valid"] - merged.source_rows
    return run.metric("merge_transactions", {**merged.as_report(), "duplicates_collapsed": collapsed})


@dataclass(frozen=True)
class MergeScope:
    """The partitions one batch's MERGE may touch, established on silver's version `version`."""

    version: int
    batch_dates: tuple[date, ...]
    stored_dates: tuple[date, ...]
    window_days: int

    @property
    def dates(self) -> Dates:
        """Every date holding a batch row or a stored row of a batch id: what the MERGE reads."""
        return Dates.of([*self.batch_dates, *self.stored_dates])

    @property
    def outside_window(self) -> tuple[date, ...]:
        """Stored dates earlier than the correction window before the batch (or after it)."""
        if not self.batch_dates:
            return ()
        first, last = self.batch_dates[0] - timedelta(days=self.window_days), self.batch_dates[-1]
        return tuple(d for d in self.stored_dates if d < first or d > last)

    def target_filter(self) -> str | None:
        """The MERGE's partition predicate on the target (None: nothing to bound)."""
        return None if self.dates.is_none else self.dates.predicate(f"t.`{PARTITION}`")

    def as_report(self) -> dict[str, Any]:
        return {
            "silver_version": self.version,
            "batch_dates": len(self.batch_dates),
            "dates_merged": len(self.dates.values or ()),
            "correction_window_days": self.window_days,
            "dates_outside_window": [d.isoformat() for d in self.outside_window],
        }


# Below this many batch rows, the id lookup broadcasts the batch's ids to the scan of silver
# (no shuffle of the stored ids); above it Spark chooses.
BROADCAST_IDS_BELOW = 2_000_000


def merge_scope(
    spark: SparkSession,
    silver_path: str,
    silver: delta.TableState,
    rows: DataFrame,
    batch_rows: int,
    window_days: int,
) -> MergeScope:
    """Which dates the batch's MERGE must read: those of its `rows` (every version of an id in
    the batch, the one it keeps and any it collapses), and wherever its ids are stored now.

    The lookup reads silver's `transaction_id` column only (the date is the partition), so it
    costs a fraction of a MERGE over the whole table, and it makes the bound exact: a
    correction whose stored row sits on any date, however old, is found and merged in place.
    """
    current = silver.version
    batch_dates = tuple(sorted(row[0] for row in rows.select(PARTITION).distinct().collect()))
    stored_dates: tuple[date, ...] = ()
    if silver.files > 0:
        ids = rows.select("transaction_id")
        if batch_rows < BROADCAST_IDS_BELOW:
            ids = F.broadcast(ids)
        stored = (
            spark.read.format("delta")
            .option("versionAsOf", current)
            .load(silver_path)
            .select("transaction_id", PARTITION)
            .join(ids, "transaction_id", "left_semi")
        )
        stored_dates = tuple(sorted(row[0] for row in stored.select(PARTITION).distinct().collect()))
    return MergeScope(current, batch_dates, stored_dates, window_days)


def merge_profiles(run: JobRun, paths: dict[str, str], profiles: DataFrame) -> None:
    """MERGE the latest profile per user into user_profiles, then check the stored table."""
    with run.stage("merge_profiles"):
        profiles = run.cache(profiles)
        stored = delta.ensure_table(run.spark, paths[PROFILES], USER_PROFILES, properties=PROFILES_PROPERTIES)
        merged = delta.upsert(
            run.spark, paths[PROFILES], profiles, ["user_id"], newer_profile_condition(), expected=stored
        )
    collapsed = run.report.metrics["profiles"]["rows_valid"] - merged.source_rows
    run.metric("merge_profiles", {**merged.as_report(), "duplicates_collapsed": collapsed})
    run.check(run.cache(read_table(run.spark, paths[PROFILES], "delta")), PROFILES, profile_expectations())


def refresh_gold(run: JobRun, paths: dict[str, str], silver_version: int) -> tuple[Dates, DataFrame]:
    """Refresh daily_user_totals from silver (at the version this run's MERGE left) and check
    the rows it rewrote; returns their dates and those rows (cached for the reconciliation)."""
    with run.stage("refresh_daily_user_totals"):
        dates, rebuilt_because = refresh_daily_totals(run.spark, paths[SILVER], paths[GOLD], silver_version)
    refresh: dict[str, Any] = {"dates_refreshed": dates.as_report()}
    if rebuilt_because:
        refresh["rebuilt_because"] = rebuilt_because
        get_logger(JOB).warning("daily_user_totals rebuilt from silver", extra={"job": JOB, "reason": rebuilt_because})
    run.metric("daily_user_totals", refresh)
    written = run.cache(dates.select(read_table(run.spark, paths[GOLD], "delta")))
    return dates, run.check(written, GOLD, daily_totals_expectations())


def refresh_daily_totals(
    spark: SparkSession, silver_path: str, gold_path: str, silver_version: int | None = None
) -> tuple[Dates, str | None]:
    """Bring daily_user_totals up to silver's `silver_version` (None: its latest, read from the
    log); returns the dates rewritten and, when gold was rebuilt whole although it had a
    record, why.

    The gold table records in each commit the silver version it reflects, so the dates to
    recompute are those the change feed shows changed since then, whichever run changed them
    (a run that died between the MERGE and this step is caught up by the next one). When there
    is no such record, or the change feed no longer reaches back that far (its log expired, or
    a VACUUM deleted its change data: table maintenance refuses to), gold is rebuilt, and the
    report says why; the days retention deleted from silver (before `delta.retained_from`) keep
    their totals (`rebuilt_dates`).
    """
    if silver_version is None:
        silver_version = delta.version(spark, silver_path)
    built_from = delta.last_source_version(spark, gold_path)
    silver = read_table(spark, silver_path, "delta")
    dates = Dates.every()
    rebuilt_because = None
    if built_from is not None:
        try:
            dates = Dates.of(delta.changed_values(spark, silver_path, PARTITION, built_from, silver_version))
        except (AnalysisException, CapturedException, Py4JJavaError) as exc:
            dates = Dates.every()
            rebuilt_because = f"change feed of silver after version {built_from} unreadable: {describe_failure(exc)}"
    delta.ensure_table(spark, gold_path, DAILY_USER_TOTALS, [PARTITION], GOLD_PROPERTIES)
    horizon = delta.retained_from(spark, silver_path) if dates.is_every else None
    if horizon is not None:
        dates = rebuilt_dates(silver, read_table(spark, gold_path, "delta"), horizon)
        if rebuilt_because:
            rebuilt_because += f"; the days before {horizon} (past silver's retention) kept"
    if dates.is_every:
        delta.overwrite(daily_user_totals(silver), gold_path, [PARTITION], source_version=silver_version)
    elif not dates.is_none:
        totals = daily_user_totals(dates.select(silver))
        delta.replace_where(totals, gold_path, dates.predicate(), [PARTITION], silver_version)
    return dates, rebuilt_because


def rebuilt_dates(silver: DataFrame, gold: DataFrame, horizon: date) -> Dates:
    """The dates a rebuild of gold from silver rewrites once retention deleted silver's days
    before `horizon`: every date silver holds (a late correction of an old day included, as
    the refresh recomputes it) and every gold date from `horizon` on. Gold's other days are
    those retention deleted from silver: their totals are kept, as the refreshes keep them."""
    held = silver.select(PARTITION).union(gold.select(PARTITION).filter(F.col(PARTITION) >= F.lit(horizon)))
    return Dates.of([row[0] for row in held.distinct().collect()])


def reconciliation(
    spark: SparkSession,
    paths: dict[str, str],
    counts: dict[str, Any],
    quarantined: int,
    merged: dict[str, int],
    refreshed: tuple[Dates, DataFrame],
) -> dict[str, bool]:
    """Cross-table sums that must agree: the quarantine and the MERGE with the input's
    accounting, and the gold rows rewritten with silver's rows on the same dates."""
    dates, gold = refreshed
    expected = dates.select(read_table(spark, paths[SILVER], "delta")).agg(F.count("*"), F.sum("amount")).first()
    actual = gold.agg(F.sum("transaction_count"), F.sum("total_amount")).first()
    return {
        "quarantine_rows_equal_rows_quarantined": quarantined == counts["rows_quarantined"],
        "merge_rows_plus_duplicates_equal_rows_valid": merged["source_rows"] + merged["duplicates_collapsed"]
        == counts["rows_valid"],
        "daily_counts_equal_silver_rows": (actual[0] or 0) == expected[0],
        "daily_totals_equal_silver_amounts": (actual[1] or 0) == (expected[1] or 0),
    }


def record_tables(run: JobRun, paths: dict[str, str]) -> None:
    """Each table's path and row count in the report."""
    # Every run writes silver, gold and the quarantine; user_profiles exists once a run had profiles.
    for name in (SILVER, GOLD, PROFILES, QUARANTINE):
        if name != PROFILES or delta.table_exists(run.spark, paths[name]):
            run.record_table(name, paths[name], read_table(run.spark, paths[name], "delta").count())


def export_for_redshift(
    run: JobRun, paths: dict[str, str], dates: Dates, with_profiles: bool, target_mb: int = delta.DEFAULT_TARGET_FILE_MB
) -> dict[str, Any]:
    """Plain Parquet + COPY manifest + SQL per table under <warehouse>/redshift/, and the
    export's record (`EXPORT_RECORD`).

    daily_user_totals: the complete rows of `dates`, plus those of an earlier export that was
    never acknowledged as loaded (`EXPORT_LOADED`: a skipped or failed load), so a day's changes
    reach Redshift with the next load that runs. Its load deletes those dates and inserts the
    export, so loading twice equals loading once, and a date whose rows all moved away is
    emptied. No changed date: the previous export is left for its load.
    user_profiles: the whole table, upserted by user_id.
    """
    with run.stage("export_for_redshift"):
        summary = redshift_export(run.spark, paths, dates, with_profiles, target_mb, export_id=run.run_id)
        return run.metric("redshift_export", summary)


# Under <warehouse>/redshift/: what the latest export holds, and the copy of it the pipeline
# writes once that export is loaded (registry: `redshift_loaded`).
EXPORT_RECORD, EXPORT_LOADED = "export.json", "loaded.json"


def unloaded_export_dates(spark: SparkSession, root: str) -> Dates:
    """The dates of the previous export if it was never acknowledged as loaded, else none."""
    record, loaded = join_path(root, EXPORT_RECORD), join_path(root, EXPORT_LOADED)
    if not path_exists(spark, record):
        return Dates.of([])
    previous = json.loads(read_text(spark, record))
    if path_exists(spark, loaded) and json.loads(read_text(spark, loaded)).get("export_id") == previous["export_id"]:
        return Dates.of([])
    dates = previous[GOLD]
    return Dates.every() if dates == "all" else Dates.of([date.fromisoformat(d) for d in dates])


def redshift_export(
    spark: SparkSession,
    paths: dict[str, str],
    dates: Dates,
    with_profiles: bool,
    target_mb: int = delta.DEFAULT_TARGET_FILE_MB,
    export_id: str | None = None,
) -> dict[str, Any]:
    root = paths[EXPORT]
    write_text(spark, join_path(root, "create_tables.sql"), create_tables_sql())
    summary: dict[str, Any] = {"create_tables": join_path(root, "create_tables.sql")}
    if dates.is_none:
        summary[GOLD] = "unchanged"
    else:
        carried = unloaded_export_dates(spark, root)
        if not dates.is_every:
            dates = Dates.every() if carried.is_every else Dates.of([*dates.values, *carried.values])
        stored = dates.select(read_table(spark, paths[GOLD], "delta"))
        files = delta.files_for(delta.scanned_bytes(stored), target_mb)
        totals = stored.transform(conform_to(REDSHIFT_DAILY_USER_TOTALS))
        summary[GOLD] = export_table(spark, root, GOLD, totals, dates.predicate(PARTITION), (), files)
        summary[GOLD]["carried_over"] = carried.as_report()
    if with_profiles:
        stored = read_table(spark, paths[PROFILES], "delta")
        files = delta.files_for(delta.scanned_bytes(stored), target_mb)
        profiles = stored.transform(conform_to(REDSHIFT_USER_PROFILES))
        summary[PROFILES] = export_table(spark, root, PROFILES, profiles, None, ("user_id",), files)
    if not dates.is_none:
        record = {"export_id": export_id or uuid.uuid4().hex, GOLD: dates.as_report(), PROFILES: with_profiles}
        write_text(spark, join_path(root, EXPORT_RECORD), json.dumps(record, indent=2) + "\n")
    return summary


def export_table(
    spark: SparkSession,
    root: str,
    name: str,
    df: DataFrame,
    replace_predicate: str | None,
    replace_keys: Sequence[str],
    files: int = 1,
) -> dict[str, Any]:
    """Write one table's Parquet files (`files` of them at most: the table's bytes over the
    target file size), their COPY manifest and the SQL that loads them."""
    data_path = join_path(root, name)
    df.coalesce(files).write.mode("overwrite").parquet(data_path)
    files = list_data_files(spark, data_path, ".parquet")
    manifest = join_path(root, f"{name}.manifest")
    write_text(spark, manifest, redshift.copy_manifest(files))
    load = join_path(root, f"load_{name}.sql")
    write_text(
        spark,
        load,
        redshift.idempotent_load_sql(name, manifest, replace_predicate=replace_predicate, replace_keys=replace_keys),
    )
    rows = spark.read.parquet(data_path).count()
    return {"path": data_path, "files": len(files), "rows": rows, "manifest": manifest, "load_sql": load}


def create_tables_sql() -> str:
    """Redshift DDL for the exported tables, and the view joining totals to profile attributes
    (current attributes, whatever day the totals are from)."""
    return (
        redshift.create_table_sql(
            GOLD,
            REDSHIFT_DAILY_USER_TOTALS,
            not_null=[f.name for f in REDSHIFT_DAILY_USER_TOTALS.fields],
            distkey="user_id",
            sortkey=[PARTITION, "user_id"],
        )
        + "\n"
        + redshift.create_table_sql(
            PROFILES, REDSHIFT_USER_PROFILES, not_null=["user_id"], distkey="user_id", sortkey=["user_id"]
        )
        + "\n"
        + "CREATE OR REPLACE VIEW daily_user_totals_with_profile AS\n"
        "SELECT t.user_id, t.transaction_date, t.total_amount, t.transaction_count,\n"
        "       p.country, p.segment, p.signup_date\n"
        f"FROM {GOLD} t\nLEFT JOIN {PROFILES} p ON p.user_id = t.user_id;\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
