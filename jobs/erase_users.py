"""Erase users from a root: a transaction warehouse (transaction_etl), a log warehouse
(log_analytics) or a segmentation output (customer_segmentation, segment_customers), found from
what the root holds (issue 37: erasure, erased stays erased).

    --user-id / --user-ids-file ─ ids ─ hashed into <root>/erased_users (every later load of the
                                       │  root drops their lines: common/erasure.py)
                                       ├─ transaction warehouse: DELETE from transactions (deletion
                                       │  vectors), user_profiles, quarantine ─ daily_user_totals
                                       │  refreshed for the dates the DELETE touched (the ETL's own
                                       │  refresh) ─ the Redshift export rewritten (the ETL's own) ─
                                       │  redshift/erase_users.sql (DELETEs, one transaction)
                                       ├─ log warehouse: DELETE from events, quarantine ─ every
                                       │  aggregate recomputed from events (the job's own publishing)
                                       └─ segmentation output: the customers' predictions and
                                          quarantined lines deleted (Delta or Parquet); segment
                                          profiles recomputed from the predictions left (they
                                          keep the features); the model left to the next training
    --purge: then every Delta table of the root that holds users ─ REORG ... APPLY (PURGE) of the
    partitions whose files carry deletion vectors ─ VACUUM --retain-hours (change data included),
    both refused before anything changes if the retention is shorter than a table's window
    then <root>/erasures/<run id>/run_report.json: per table, the rows removed (and files purged).

A quarantine row is the user's when its raw text parses as JSON and holds the id as a field
value, or, when it does not parse, holds the id as a whole token. The ids are never written to
the report (only how many there were); the Redshift SQL holds them, as it must.

spark-submit --py-files dist/spark_jobs-<version>.zip jobs/erase_users.py --root ... --user-id ...
python -m jobs.erase_users --help
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from common import delta, erasure, ledger, redshift, segmentation
from common.cli import JobArgumentParser, run_job
from common.errors import InputError, JobError
from common.fs import join_path, path_exists, read_text, write_text
from common.job import JobRun
from common.roots import LOG_ROOT, SEGMENTATION_ROOT, TRANSACTION_ROOT, root_kind
from common.rules.customers import profile_expectations
from common.sql import in_predicate
from common.tables import TableFormat, read_table, write_table
from jobs import customer_segmentation, log_analytics, maintain_tables, transaction_etl

JOB = "erase_users"
# Under the root: one folder per erasure run, holding its report (the root's own
# run_report.json stays the loading job's).
ERASURES = "erasures"
# Under the transaction warehouse's redshift/: the DELETEs for the rows Redshift already holds.
REDSHIFT_SQL = "erase_users.sql"
# Why a training output's segment profiles were left as they were.
PROFILES_NOT_RECOMPUTED = (
    "the predictions hold no features (written before they kept them): the next training recomputes the profiles"
)
JSON_VALUE, TOKEN = erasure.JSON_VALUE, erasure.TOKEN


# ── transforms: DataFrame -> DataFrame, no IO ────────────────────────────────────────────


def mention(user_ids: Sequence[str]) -> Column:
    """How a quarantine row's raw text holds one of `user_ids` (`common.erasure.mention`, the rule
    later loads drop lines by): JSON_VALUE, TOKEN or null."""
    return erasure.mention([erasure.user_hash(u) for u in user_ids])


def hashed_in(column: str, user_ids: Sequence[str]) -> Column:
    """`column` is one of `user_ids`, matched by hash: a DELETE records its predicate in the Delta
    log (the table's history) and every query its plan in Spark's event log, which must name the
    ids no more than the tables do."""
    return F.sha2(F.col(column), 256).isin(sorted({erasure.user_hash(u) for u in user_ids}))


def with_mention(quarantine: DataFrame, user_ids: Sequence[str]) -> DataFrame:
    """The quarantine rows with `mention` (see `mention`)."""
    return quarantine.withColumn("mention", mention(user_ids))


# ── the job: read, validate and write at the edges ───────────────────────────────────────


def build_parser() -> JobArgumentParser:
    """The job's options, as `--help` shows them and its page in docs/jobs/ documents them."""
    parser = JobArgumentParser(
        prog=JOB,
        description="Erase users from a transaction warehouse, a log warehouse or a segmentation output: delete "
        "their rows from every table, recompute the aggregates they fed, and report the rows removed per table.",
    )
    parser.add_path(
        "--root",
        "a transaction_etl --warehouse, a log_analytics --output, or a customer_segmentation or segment_customers "
        "--output (found from what it holds)",
    )
    parser.add_argument(
        "--user-id",
        action="append",
        type=user_id,
        help="a user id to erase; repeat it for several",
    )
    parser.add_path(
        "--user-ids-file", "a text file of user ids to erase, one a line (blank lines skipped)", required=False
    )
    parser.add_argument(
        "--purge",
        action="store_true",
        help="after deleting, rewrite the files still holding deleted rows (deletion vectors purged) and VACUUM "
        "every Delta table of the root that holds users, change data included",
    )
    parser.add_argument(
        "--retain-hours",
        type=maintain_tables.retain_hours,
        help="with --purge only: VACUUM keeps the files of every version younger than this "
        f"(default: {maintain_tables.DEFAULT_RETAIN_HOURS:g}); shorter than a table's "
        "delta.deletedFileRetentionDuration is refused",
    )
    return parser


def user_id(text: str) -> str:
    """An argparse type: a user id, trimmed as the contracts trim them; blank is refused."""
    value = text.strip()
    if not value:
        raise argparse.ArgumentTypeError("a user id cannot be blank")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.user_id and not args.user_ids_file:
        parser.error("give at least one --user-id or a --user-ids-file")
    if args.retain_hours is None:
        args.retain_hours = maintain_tables.DEFAULT_RETAIN_HOURS
    elif not args.purge:
        # Accepted and ignored, it would let an operator believe the files were vacuumed.
        parser.error("--retain-hours is for --purge: without --purge nothing is vacuumed")
    return args


def read_user_ids(spark: SparkSession, args: argparse.Namespace) -> list[str]:
    """Every id to erase, from the arguments and the file, trimmed and deduplicated."""
    ids = list(args.user_id or ())
    if args.user_ids_file:
        if not path_exists(spark, args.user_ids_file):
            raise InputError(f"no user ids file at {args.user_ids_file}")
        ids += [line.strip() for line in read_text(spark, args.user_ids_file).splitlines() if line.strip()]
    if not ids:
        raise InputError(f"no user ids in {args.user_ids_file}")
    return sorted(set(ids))


def table_format(spark: SparkSession, path: str) -> TableFormat | None:
    """How the table at `path` is stored (a segmentation output's tables follow its --format), or None."""
    if delta.table_exists(spark, path):
        return "delta"
    return "parquet" if path_exists(spark, path) else None


def user_tables(spark: SparkSession, kind: str, root: str) -> dict[str, str]:
    """The root's Delta tables holding users' rows or rows derived from them, by name: what
    `--purge` rewrites and VACUUMs. (Parquet aggregates are not among them: overwriting a
    Parquet folder deletes its previous files.)"""
    if kind == TRANSACTION_ROOT:
        paths = transaction_etl.warehouse_paths(root)
        names: tuple[str, ...] = (
            transaction_etl.SILVER,
            transaction_etl.GOLD,
            transaction_etl.PROFILES,
            transaction_etl.QUARANTINE,
        )
    elif kind == LOG_ROOT:
        paths = log_analytics.table_paths(root)
        names = (log_analytics.EVENTS_TABLE, log_analytics.QUARANTINE_TABLE, *log_analytics.AGGREGATES)
    else:
        names = (customer_segmentation.PREDICTIONS, customer_segmentation.QUARANTINE)
        paths = {name: join_path(root, name) for name in names}
    return {name: paths[name] for name in names if delta.table_exists(spark, paths[name])}


def vacuum_refusals(
    spark: SparkSession, tables: dict[str, str], retain_hours: float, pending: tuple[str, int] | None = None
) -> None:
    """Stop with one line when VACUUM with `retain_hours` must not run on one of `tables`
    (`delta.vacuum_refusal`, as maintain_tables checks it); `pending`: silver's unread change data."""
    for name, path in tables.items():
        refusal = delta.vacuum_refusal(
            spark, path, name, retain_hours, pending if name == transaction_etl.SILVER else None
        )
        if refusal:
            raise JobError(f"VACUUM refused: {refusal}")


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Erase the users from the root; returns the run report it wrote."""
    ids = read_user_ids(spark, args)
    kind = root_kind(spark, args.root, "nothing erased")
    tables = user_tables(spark, kind, args.root) if args.purge else {}
    # A retention the purge would refuse stops the run before any table changes.
    vacuum_refusals(spark, tables, args.retain_hours)
    # The report records how many ids, never which.
    recorded = argparse.Namespace(
        root=args.root,
        user_ids=len(ids),
        user_ids_file=args.user_ids_file,
        purge=args.purge,
        retain_hours=args.retain_hours if args.purge else None,
    )
    fmt = "delta"
    if kind == LOG_ROOT:
        recorded_settings = ledger.recorded_settings(spark, join_path(args.root, log_analytics.LEDGER_TABLE))
        fmt = log_analytics.settings_arguments(args.root, recorded_settings).format
    elif kind == SEGMENTATION_ROOT:
        fmt = table_format(spark, join_path(args.root, customer_segmentation.PREDICTIONS)) or fmt
    with JobRun(spark, JOB, recorded, output=args.root, fmt=fmt) as run:
        run.metric("root", kind)
        # Recorded first: from here on every load of the root drops their lines, even if this run fails.
        with run.stage("record_erased"):
            recorded_path = erasure.record_erased(spark, args.root, ids, run.run_id)
        run.report.tables[erasure.ERASED_TABLE] = {
            "path": recorded_path,
            "format": "delta",
            "rows": read_table(spark, recorded_path, "delta").count(),
        }
        if kind == TRANSACTION_ROOT:
            erase_from_warehouse(run, ids)
        elif kind == LOG_ROOT:
            erase_from_log_warehouse(run, ids)
        else:
            erase_from_segmentation(run, ids)
        if args.purge:
            purge(run, tables, args.retain_hours)
        report_root = join_path(args.root, ERASURES, run.run_id)
        content = run.report.write(spark, report_root)
        run.log.info("erasure done", extra={"job": JOB, "root": args.root, "report": report_root})
        return content


def purge(run: JobRun, tables: dict[str, str], retain_hours: float) -> None:
    """Make the deleted rows physically gone from `tables` (`user_tables`): rewrite the files
    still carrying deletion vectors without the rows they mark (tables without vectors rewrote
    their files on DELETE), then VACUUM the files no version younger than `retain_hours` needs,
    the change data feed's `_change_data` files included (Delta 3.3's LITE finds them in the
    log's commits, FULL in its listing). Per table in the report: files rewritten and removed."""
    spark = run.spark
    # The erasure refreshed gold from silver's change feed: nothing is pending, unless it failed.
    vacuum_refusals(spark, tables, retain_hours, maintain_tables.pending_reader(spark, tables))
    for name, path in tables.items():
        with run.stage(f"purge_{name}"):
            rewritten = delta.purge_deletion_vectors(spark, path)
            vacuumed = delta.vacuum(spark, path, retain_hours)
        entry = run.report.tables.setdefault(name, {"path": path, "format": "delta"})
        entry["purge"] = {
            "files_rewritten": rewritten.files_removed,
            "files_written": rewritten.files_added,
            "deletion_vectors_purged": rewritten.deletion_vectors_purged,
            "objects_deleted": vacuumed["objects_deleted"],
            "vacuum_mode": vacuumed["vacuum_mode"],
        }
    run.metric("purge", {"retain_hours": retain_hours, "tables": sorted(tables)})


def delete_from(spark: SparkSession, path: str, fmt: TableFormat, condition: Column) -> int:
    """Delete the rows where `condition` holds (null: it does not) from the table at `path`;
    returns how many. Delta: one DELETE (`delta.delete_rows`). Parquet (a segmentation output's
    --format): the folder rewritten without them, from a copy of the kept rows in the executors'
    storage (Spark cannot overwrite a folder its query reads); none matching rewrites nothing."""
    if fmt == "delta":
        return delta.delete_rows(spark, path, condition)
    rows = read_table(spark, path, fmt)
    held = F.coalesce(condition, F.lit(False))
    matching = rows.filter(held).count()
    if matching:
        write_table(rows.filter(~held).localCheckpoint(eager=True), path, fmt)
    return matching


def erase_quarantine(run: JobRun, path: str, ids: Sequence[str]) -> dict[str, Any]:
    """Delete the quarantine rows that hold an id; returns how many, and how they held it."""
    found = {JSON_VALUE: 0, TOKEN: 0}
    removed = 0
    fmt = table_format(run.spark, path)
    if fmt is not None:
        marked = read_table(run.spark, path, fmt).transform(with_mention, ids).filter(F.col("mention").isNotNull())
        found.update({row["mention"]: row["count"] for row in marked.groupBy("mention").count().collect()})
        removed = delete_from(run.spark, path, fmt, mention(ids).isNotNull())
    return {"path": path, "format": fmt or "delta", "rows_removed": removed, **found}


def erase_rows(run: JobRun, name: str, path: str, ids: Sequence[str]) -> int:
    """Delete the users' rows from table `name` (absent: none); record and return how many."""
    removed = 0
    if delta.table_exists(run.spark, path):
        with run.stage(f"delete_{name}"):
            removed = delta.delete_rows(run.spark, path, hashed_in("user_id", ids))
    run.report.tables[name] = {"path": path, "format": "delta", "rows_removed": removed}
    return removed


def erase_from_warehouse(run: JobRun, ids: Sequence[str]) -> None:
    """The transaction warehouse: silver, profiles and quarantine rows deleted; gold refreshed for
    the dates silver's DELETE touched and the export rewritten, both by the ETL's own code; the
    Redshift DELETEs written."""
    spark = run.spark
    paths = transaction_etl.warehouse_paths(run.output)
    gold_held = 0
    if delta.table_exists(spark, paths[transaction_etl.GOLD]):
        gold = read_table(spark, paths[transaction_etl.GOLD], "delta")
        gold_held = gold.filter(hashed_in("user_id", ids)).count()
    erase_rows(run, transaction_etl.SILVER, paths[transaction_etl.SILVER], ids)
    erase_rows(run, transaction_etl.PROFILES, paths[transaction_etl.PROFILES], ids)
    with run.stage("delete_quarantine"):
        quarantine = erase_quarantine(run, paths[transaction_etl.QUARANTINE], ids)
    run.report.tables[transaction_etl.QUARANTINE] = quarantine
    with run.stage("refresh_daily_user_totals"):
        dates, rebuilt_because = transaction_etl.refresh_daily_totals(
            spark, paths[transaction_etl.SILVER], paths[transaction_etl.GOLD]
        )
    run.report.tables[transaction_etl.GOLD] = {
        "path": paths[transaction_etl.GOLD],
        "format": "delta",
        "rows_removed": gold_held,
        "dates_refreshed": dates.as_report(),
        **({"rebuilt_because": rebuilt_because} if rebuilt_because else {}),
    }
    export_removed = exported_rows(spark, paths[transaction_etl.EXPORT], ids)
    with_profiles = delta.table_exists(spark, paths[transaction_etl.PROFILES])
    with run.stage("export_for_redshift"):
        exported = transaction_etl.redshift_export(spark, paths, dates, with_profiles, export_id=run.run_id)
    run.metric("redshift_export", exported)
    run.report.tables[transaction_etl.EXPORT] = {"path": paths[transaction_etl.EXPORT], "rows_removed": export_removed}
    sql = join_path(paths[transaction_etl.EXPORT], REDSHIFT_SQL)
    write_text(spark, sql, erase_sql(ids))
    run.metric("redshift_erase_sql", sql)


def exported_rows(spark: SparkSession, export_root: str, ids: Sequence[str]) -> dict[str, int]:
    """Rows of the users in each table of the Redshift export (what the rewrite removes)."""
    held = {}
    for name in (transaction_etl.GOLD, transaction_etl.PROFILES):
        path = join_path(export_root, name)
        if path_exists(spark, path):
            held[name] = spark.read.parquet(path).filter(hashed_in("user_id", ids)).count()
    return held


def erase_sql(ids: Sequence[str]) -> str:
    """The users' rows deleted from the Redshift tables the export loads, in one transaction.
    user_profiles is only ever upserted, so nothing else removes them; daily_user_totals' next
    load would (it replaces the exported dates), this makes it so at once."""
    predicate = in_predicate("user_id", ids)
    return redshift.delete_rows_sql([(transaction_etl.PROFILES, predicate), (transaction_etl.GOLD, predicate)])


def erase_from_log_warehouse(run: JobRun, ids: Sequence[str]) -> None:
    """The log warehouse: events and quarantine rows deleted, then every aggregate recomputed
    from events by the job's own publishing, with the settings the root was built with."""
    spark = run.spark
    paths = log_analytics.table_paths(run.output)
    settings = log_analytics.settings_arguments(
        run.output, ledger.recorded_settings(spark, paths[log_analytics.LEDGER_TABLE])
    )
    before = {
        name: read_table(spark, paths[name], run.fmt).count()
        for name in log_analytics.AGGREGATES
        if path_exists(spark, paths[name])
    }
    removed = erase_rows(run, log_analytics.EVENTS_TABLE, paths[log_analytics.EVENTS_TABLE], ids)
    with run.stage("delete_quarantine"):
        quarantine = erase_quarantine(run, paths[log_analytics.QUARANTINE_TABLE], ids)
    run.report.tables[log_analytics.QUARANTINE_TABLE] = quarantine
    if removed:
        version = delta.version(spark, paths[log_analytics.EVENTS_TABLE])
        published = log_analytics.publish_aggregates(run, paths, settings, version)
        # The next loading run then refreshes only what its batch touches, not everything.
        ledger.record_aggregates_version(spark, paths[log_analytics.LEDGER_TABLE], version)
        run.metric("aggregates", {"events_version": version, "refreshed": True})
    else:
        published = {}
        run.metric("aggregates", {"refreshed": False})
    for name, rows in before.items():
        after = published[name].count if name in published else rows
        run.report.tables[name] = {
            "path": paths[name],
            "format": run.fmt,
            "rows_before": rows,
            "rows_after": after,
            "recomputed": name in published,
        }


def erase_from_segmentation(run: JobRun, ids: Sequence[str]) -> None:
    """A segmentation output: the customers' predictions and quarantined lines deleted, then a
    training output's segment profiles recomputed from the predictions left, by the training's
    own `segment_profiles` (the predictions keep the features it aggregates): they equal the
    profiles of the same segments without the customers. The model (centroids: averages of
    many customers, no rows) is refreshed at the next training, which no longer sees the
    customers (docs/privacy.md). Predictions written before they kept the features cannot
    feed the profiles: those are left to the next training, and the report says why."""
    spark = run.spark
    path = join_path(run.output, customer_segmentation.PREDICTIONS)
    fmt = table_format(spark, path) or run.fmt
    with run.stage("delete_predictions"):
        removed = delete_from(spark, path, fmt, hashed_in("customer_id", ids))
    run.report.tables[customer_segmentation.PREDICTIONS] = {"path": path, "format": fmt, "rows_removed": removed}
    with run.stage("delete_quarantine"):
        quarantine = erase_quarantine(run, join_path(run.output, customer_segmentation.QUARANTINE), ids)
    run.report.tables[customer_segmentation.QUARANTINE] = quarantine
    profiles_path = join_path(run.output, customer_segmentation.SEGMENT_PROFILES)
    profiles_format = table_format(spark, profiles_path)
    if profiles_format:
        stored = read_table(spark, profiles_path, profiles_format)
        entry = {"path": profiles_path, "format": profiles_format, "customers_erased": removed}
        families = segmentation.profiled_families(stored.columns)
        predicted = read_table(spark, path, fmt)
        features = segmentation.FeatureSet(families=families) if families else None
        if features is None or not {*features.numeric, *features.categorical} <= set(predicted.columns):
            entry.update(recomputed=False, reason=PROFILES_NOT_RECOMPUTED)
        elif removed:
            k = stored.count()
            with run.stage("recompute_segment_profiles"):
                published = run.publish(
                    customer_segmentation.SEGMENT_PROFILES,
                    segmentation.segment_profiles(predicted, features),
                    expectations=profile_expectations(k, features.families),
                )
            entry.update(recomputed=True, rows=published.count)
        else:
            entry.update(recomputed=False, reason="no customer erased: unchanged")
        run.report.tables[customer_segmentation.SEGMENT_PROFILES] = entry


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
