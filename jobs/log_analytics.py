"""Log analytics: web/app logs (JSON lines or access logs) into a log warehouse each run
extends; user activity, error patterns, activity windows, daily engagement and anomalies over
its whole history (the mission's "Log Analysis with Amazon EMR").

    --input files ─ list ─ ledger (loaded_files): skip what the root holds unchanged
    the others ─ read once ─> classify by the log contract ─┬─> quarantine (replace the files' rows)
                                                            └─> events (replace the files' rows, by date)
    events (whole history) ─┬─> user_activity
                            ├─> error_patterns
                            ├─> activity_windows ─> anomalies (each window against its baseline)
                            └─> daily_engagement
    then loaded_files marks the files loaded, athena_ddl.sql, run_report.json, written last:
    the run's completion marker, and with --dashboard dashboard.html.

spark-submit --py-files dist/spark_jobs-<version>.zip jobs/log_analytics.py --input ... --output ...
python -m jobs.log_analytics --help
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common import delta, erasure, ledger
from common.athena import add_database_argument
from common.classify import INGEST_FILE, REASON, SKIPPED, Contract, quarantined_rows, valid_rows
from common.cli import JobArgumentParser, positive_int, positive_number, run_job, storage_path
from common.dashboard import add_dashboard_argument
from common.errors import InputError
from common.field_map import absent_fields, canonical, parse_field_map, read_json_fields
from common.fs import canonical_uri_column, head_lines, input_file_statuses, join_path, path_exists
from common.gates import GateDefaults, add_gate_arguments
from common.job import JobRun, Published, run_concurrently
from common.lines import SOURCE_FILE, read_lines
from common.log_formats import (
    AUTH_USER_OR_IP,
    LAYOUT,
    USER_ID_SOURCES,
    WIDTH,
    alb_lines,
    cloudfront_layout,
    cloudfront_lines,
    combined_lines,
)
from common.report import REPORT_FILE
from common.rules.logs import (
    ALB_CONTRACT,
    CLOUDFRONT_CONTRACT,
    COMBINED_CONTRACT,
    ERROR_STATUS_MIN,
    LOG_CONTRACT,
    output_expectations,
)
from common.storage_errors import storage_errors
from common.tables import read_table
from schemas import conform_to
from schemas.logs import (
    ACTIVITY_WINDOWS,
    ANOMALIES,
    DAILY_ENGAGEMENT,
    ERROR_PATTERNS,
    EVENTS,
    LOADED_FILES,
    RAW_LOG,
    REQUEST_FIELDS,
    USER_ACTIVITY,
)
from schemas.quarantine import DATED_QUARANTINE, INGESTION_DATE

JOB = "log_analytics"
# Quality gates (common/gates.py): a day's logs quarantine well under 1 %; beyond 5 %, or under
# half or over three times the median of the last 7 days, stops before any table changes.
GATE_DEFAULTS = GateDefaults(max_quarantine_rate=0.05, min_volume_ratio=0.5, max_volume_ratio=3.0, volume_history=7)

# Table folders under --output: the warehouse's state (Delta whatever --format says) and the
# aggregates (published in --format).
EVENTS_TABLE, LEDGER_TABLE, QUARANTINE_TABLE = "events", "loaded_files", "quarantine"
AGGREGATES = ("user_activity", "error_patterns", "activity_windows", "anomalies", "daily_engagement")
PARTITION = "event_date"
# Events: files bounded like the ETL's silver (optimized writes bin-pack each date); statistics
# on the columns worth skipping on (source_file: a reload replaces a file's rows), none naming a
# person (`delta.STATS_COLUMNS`).
EVENTS_PROPERTIES = {
    **delta.layout_properties(),
    **delta.stats_columns(
        "event_ts", "event_type", "status_code", "source_file", "method", "bytes", "latency_ms", "input_format"
    ),
}
QUARANTINE_PROPERTIES = {**delta.layout_properties(manifest=False), **delta.stats_columns("reason", "source_file")}
LEDGER_PROPERTIES = delta.layout_properties(manifest=False)
REBUILD_DOCS = "see docs/jobs/log_analytics.md, Rebuilding a root"
# An aggregate refreshed batch by batch is compacted into one file once it has more than this many.
AGGREGATE_MAX_FILES = 8

# Anomaly detection (docs/jobs/log_analytics.md, "Anomalies"): a window is anomalous when its error rate is
# more than Z robust standard deviations above the median of its baseline, and it has enough
# events for its rate to mean something.
DEFAULT_Z_THRESHOLD = 3.5
DEFAULT_MIN_WINDOW_EVENTS = 20
DEFAULT_BASELINE_DAYS = 28
DEFAULT_MIN_BASELINE_WINDOWS = 24
# Scale factors that turn a median / mean absolute deviation into a standard deviation
# estimate for normally distributed data (Iglewicz & Hoaglin's modified z-score).
MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = 1.2533
# The contract's fields, which --field-map may find under other names.
LOG_FIELDS = tuple(field.name for field in RAW_LOG.fields)
# A --field-map naming a field none of this many first lines read holds is refused up front.
FIELD_MAP_PROBE_LINES = 1000
# --input-format: today's JSON lines, or an access log format (common/log_formats.py).
JSON_FORMAT = "json"
ACCESS_LOGS = {"combined": (combined_lines, COMBINED_CONTRACT), "alb": (alb_lines, ALB_CONTRACT)}
CLOUDFRONT = "cloudfront"
INPUT_FORMATS = (JSON_FORMAT, *ACCESS_LOGS, CLOUDFRONT)
# CloudFront files start with `#Version:` and `#Fields:`; a few more lines are read, at most.
HEADER_LINES = 8
DEFAULT_PATH_SEGMENTS = 1
SECONDS_PER_DAY = 86_400


# ── transforms: DataFrame -> DataFrame, no IO ────────────────────────────────────────────


def with_json_request_fields(lines: DataFrame) -> DataFrame:
    """JSON lines carry no request fields: the events' request columns null, the format named."""
    nulls = {f.name: F.lit(None).cast(f.dataType) for f in REQUEST_FIELDS.fields if f.name != "input_format"}
    return lines.withColumns({**nulls, "input_format": F.lit(JSON_FORMAT)})


def to_events(classified: DataFrame) -> DataFrame:
    """The valid rows as the warehouse's events: typed, with their UTC day and their file."""
    return (
        classified.transform(valid_rows)
        .withColumns({PARTITION: F.to_date("event_ts"), "source_file": F.col(INGEST_FILE)})
        .transform(conform_to(EVENTS))
    )


def file_days(classified: DataFrame) -> DataFrame:
    """Per file and UTC day (null for quarantined lines): lines read and quarantined, header
    lines left out. What the ledger records of each file, from one small aggregate."""
    return classified.groupBy(
        F.coalesce(F.col(INGEST_FILE), F.col(SOURCE_FILE)).alias("file"), F.to_date("event_ts").alias(PARTITION)
    ).agg(
        F.count(F.when(F.coalesce(F.col(REASON) != SKIPPED, F.lit(True)), True)).alias("rows"),
        F.count(F.when(F.col(REASON) != SKIPPED, True)).alias("quarantined"),
    )


def is_error(status_code: str = "status_code") -> F.Column:
    return F.col(status_code) >= ERROR_STATUS_MIN


def user_days(events: DataFrame) -> DataFrame:
    """Per user and UTC day: events, first and last seen. The grain user_activity and
    daily_engagement both roll up, so the events are aggregated once for the two (a few rows
    per user instead of every event)."""
    return events.groupBy("user_id", F.to_date("event_ts").alias("event_date")).agg(
        F.count("*").alias("events"),
        F.min("event_ts").alias("first_seen"),
        F.max("event_ts").alias("last_seen"),
    )


def user_activity(days: DataFrame) -> DataFrame:
    """Per user (from `user_days`): how many events, and when first and last seen."""
    return (
        days.groupBy("user_id")
        .agg(
            F.sum("events").alias("event_count"),
            F.min("first_seen").alias("first_seen"),
            F.max("last_seen").alias("last_seen"),
        )
        .transform(conform_to(USER_ACTIVITY))
    )


def error_patterns(events: DataFrame) -> DataFrame:
    """Per UTC day and error status code (>= 400): how many events (errors over time)."""
    return (
        events.filter(is_error())
        .groupBy(F.to_date("event_ts").alias(PARTITION), "status_code")
        .agg(F.count("*").alias("error_count"))
        .transform(conform_to(ERROR_PATTERNS))
    )


def activity_windows(events: DataFrame, window_minutes: int) -> DataFrame:
    """Per tumbling window (aligned to the epoch, UTC) and event type: volume, users, errors."""
    return (
        events.groupBy(F.window("event_ts", f"{window_minutes} minutes").alias("window"), "event_type")
        .agg(
            F.count("*").alias("event_count"),
            F.countDistinct("user_id").alias("distinct_users"),
            F.count(F.when(is_error(), True)).alias("error_count"),
        )
        .select(
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
            "event_type",
            "event_count",
            "distinct_users",
            "error_count",
        )
        .transform(conform_to(ACTIVITY_WINDOWS))
    )


def daily_engagement(days: DataFrame) -> DataFrame:
    """Per UTC day (from `user_days`): active users, events, events per active user (mean,
    median, 90th percentile) and users new that day versus returning, new meaning first seen
    that day in all of `days` (the whole history when built from the warehouse's events).

    Percentiles are exact (`percentile`, linearly interpolated), so a rerun gives the same
    figures: approximate ones would move with the partitioning.
    """
    first_dates = days.groupBy("user_id").agg(F.min("event_date").alias("first_date"))
    return engagement_by_day(days, first_dates)


def engagement_by_day(days: DataFrame, first_dates: DataFrame) -> DataFrame:
    """`daily_engagement` of the days `days` (from `user_days`) holds, each user's first day
    of all history given apart (`first_dates`: user_id, first_date): a run refreshing a few
    days computes them from those days' events and user_activity's first_seen, never by adding
    partial results (distinct users and percentiles do not add up)."""
    per_user_day = days.select("event_date", "user_id", "events")
    return (
        per_user_day.join(first_dates.select("user_id", "first_date"), "user_id")
        .groupBy("event_date")
        .agg(
            F.count("*").alias("active_users"),
            F.sum("events").alias("event_count"),
            F.avg("events").alias("events_per_user_mean"),
            F.percentile("events", 0.5).alias("events_per_user_median"),
            F.percentile("events", 0.9).alias("events_per_user_p90"),
            F.count(F.when(F.col("event_date") == F.col("first_date"), True)).alias("new_users"),
        )
        .withColumn("returning_users", F.col("active_users") - F.col("new_users"))
        .transform(conform_to(DAILY_ENGAGEMENT))
    )


def first_dates(users: DataFrame) -> DataFrame:
    """Each user's first day of all history, from user_activity."""
    return users.select("user_id", F.to_date("first_seen").alias("first_date"))


def user_activity_changes(
    current: DataFrame, added: DataFrame, recompute: DataFrame, recomputed: DataFrame
) -> DataFrame:
    """The rows user_activity changes to, with each user's `previous_first_seen` and whether
    the row is `deleted`. `current`: the table; `added`: the batch's per-user aggregate
    (`user_activity` of its new events); `recompute`: users whose earlier events a re-delivered
    or reloaded file replaced, with `recomputed`, their rows from all their events now (none:
    the user has no event left, the row is deleted). A user of `added` not in `recompute` gets
    its counts added, first seen the least, last seen the greatest."""
    recompute = recompute.select("user_id").distinct()
    before = current.select(
        "user_id",
        F.col("event_count").alias("c_count"),
        F.col("first_seen").alias("c_first"),
        F.col("last_seen").alias("c_last"),
    )
    merged = (
        added.join(recompute, "user_id", "left_anti")
        .join(before, "user_id", "left")
        .select(
            "user_id",
            (F.col("event_count") + F.coalesce("c_count", F.lit(0))).alias("event_count"),
            F.least("first_seen", "c_first").alias("first_seen"),
            F.greatest("last_seen", "c_last").alias("last_seen"),
            F.col("c_first").alias("previous_first_seen"),
        )
    )
    replaced = (
        recompute.join(recomputed, "user_id", "left")
        .join(before, "user_id", "left")
        .select(*USER_ACTIVITY.fieldNames(), F.col("c_first").alias("previous_first_seen"))
    )
    return (
        merged.unionByName(replaced)
        .withColumn("event_count", F.col("event_count").cast("long"))
        .withColumn("deleted", F.col("event_count").isNull())
    )


def moved_first_dates(changes: DataFrame) -> DataFrame:
    """The days (`event_date`) whose new users a `user_activity_changes` changes: where a
    user's first day was and where it is now, when they differ (a new user, a late file
    revealing an earlier day, a replaced file taking the first day away)."""
    before, after = F.to_date("previous_first_seen"), F.to_date("first_seen")
    moved = changes.filter(~before.eqNullSafe(after))
    return (
        moved.select(before.alias(PARTITION))
        .unionByName(moved.select(after.alias(PARTITION)))
        .filter(F.col(PARTITION).isNotNull())
        .distinct()
    )


def window_ranges(dates: Sequence[date], window_minutes: int) -> list[tuple[int, int]]:
    """The epoch-aligned tumbling windows overlapping the UTC `dates`, as ranges [start, end)
    of window starts in epoch seconds, overlapping or touching ranges merged. A window length
    that does not divide a day makes the ranges reach into the neighbouring dates."""
    step = window_minutes * 60
    ranges = []
    for day in sorted(set(dates)):
        lo = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        hi = lo + SECONDS_PER_DAY
        ranges.append((lo - lo % step, hi + (-hi) % step))
    return merge_ranges(ranges)


def merge_ranges(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) ranges, those overlapping or touching merged, in order."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def rescored_ranges(windows: Sequence[tuple[int, int]], baseline_days: int) -> list[tuple[int, int]]:
    """The window starts whose anomaly score can change when the windows starting in
    `windows` change: those windows and every window whose baseline reaches one of them."""
    return merge_ranges([(start, end + baseline_days * SECONDS_PER_DAY) for start, end in windows])


def range_dates(ranges: Sequence[tuple[int, int]]) -> list[date]:
    """The UTC dates the instants of the [start, end) ranges (epoch seconds) fall on."""
    days: set[date] = set()
    for start, end in ranges:
        day = datetime.fromtimestamp(start, UTC).date()
        last = datetime.fromtimestamp(end - 1, UTC).date()
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return sorted(days)


def in_ranges(column: str, ranges: Sequence[tuple[int, int]]) -> str:
    """A Spark SQL predicate (for replaceWhere too): timestamp `column` in one of the ranges
    [start, end) of epoch seconds (the session's time zone is UTC, common/spark.py)."""

    def literal(seconds: int) -> str:
        return f"TIMESTAMP '{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M:%S}'"

    if not ranges:
        return "false"
    return " OR ".join(f"(`{column}` >= {literal(a)} AND `{column}` < {literal(b)})" for a, b in ranges)


def window_rates(windows: DataFrame, min_window_events: int) -> DataFrame:
    """Per window (all event types together) with at least `min_window_events` events: its
    events, errors and error rate. The windows anomalies are scored and baselined on."""
    return (
        windows.groupBy("window_start", "window_end")
        .agg(F.sum("event_count").alias("event_count"), F.sum("error_count").alias("error_count"))
        .filter(F.col("event_count") >= min_window_events)
        .withColumn("error_rate", F.col("error_count") / F.col("event_count"))
    )


def error_rate_anomalies(
    windows: DataFrame,
    z_threshold: float = DEFAULT_Z_THRESHOLD,
    min_window_events: int = DEFAULT_MIN_WINDOW_EVENTS,
    baseline_days: int = DEFAULT_BASELINE_DAYS,
    min_baseline_windows: int = DEFAULT_MIN_BASELINE_WINDOWS,
) -> DataFrame:
    """Windows whose error rate is unusually high against their baseline.

    A window's baseline is the windows (with at least `min_window_events` events, itself
    included) that start in the `baseline_days` days up to and including its start: the recent
    past, whichever run loaded it. Robust z-score against it: z = (rate - median) / scale,
    scale = 1.4826 * MAD (median absolute deviation), or 1.2533 * mean absolute deviation when
    more than half the baseline shares the median rate (MAD = 0). Median and MAD ignore the
    outliers they look for, which a mean and standard deviation would not. A window with fewer
    than `min_baseline_windows` windows in its baseline is not scored: too little past to judge.
    """
    rates = window_rates(windows, min_window_events)
    past = rates.select(F.col("window_start").alias("b_start"), F.col("error_rate").alias("b_rate"))
    pairs = rates.join(
        past,
        (F.col("b_start") <= F.col("window_start"))
        & (F.col("b_start") > F.col("window_start") - F.expr(f"INTERVAL {int(baseline_days)} DAYS")),
    )
    keys = ["window_start", "window_end", "event_count", "error_count", "error_rate"]
    medians = pairs.groupBy(*keys).agg(
        F.median("b_rate").alias("median_error_rate"), F.count("*").alias("baseline_windows")
    )
    spread = (
        pairs.join(medians, keys)
        .withColumn("abs_deviation", F.abs(F.col("b_rate") - F.col("median_error_rate")))
        .groupBy(*keys, "median_error_rate", "baseline_windows")
        .agg(F.median("abs_deviation").alias("mad"), F.avg("abs_deviation").alias("mean_abs_deviation"))
    )
    return (
        spread.filter(F.col("baseline_windows") >= min_baseline_windows)
        .withColumn(
            "robust_scale",
            F.when(F.col("mad") > 0, F.col("mad") * MAD_TO_SIGMA).when(
                F.col("mean_abs_deviation") > 0, F.col("mean_abs_deviation") * MEAN_AD_TO_SIGMA
            ),
        )
        .withColumn("robust_z_score", (F.col("error_rate") - F.col("median_error_rate")) / F.col("robust_scale"))
        .withColumn("z_threshold", F.lit(float(z_threshold)))
        .filter(F.col("robust_z_score") > F.col("z_threshold"))
        .transform(conform_to(ANOMALIES))
    )


# ── the job: read, validate and write at the edges ───────────────────────────────────────


def build_parser() -> JobArgumentParser:
    """The job's options, as `--help` shows them and its page in docs/jobs/ documents them."""
    parser = JobArgumentParser(
        prog=JOB,
        description="Load web/app log files (JSON lines, Apache/nginx or ALB access logs) into a log warehouse "
        "(events, a ledger of loaded files, a quarantine of bad lines) and refresh user activity, error "
        "patterns, activity per time window, daily engagement and error-rate anomalies over its whole history.",
    )
    parser.add_argument(
        "--input",
        action="append",
        required=True,
        type=storage_path,
        help="log files: file, directory or glob; local or s3://; repeat it to load several",
    )
    parser.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default=JSON_FORMAT,
        help="the files' format: JSON lines, Apache/nginx combined (or common) access logs, ALB access logs, "
        "CloudFront standard logs",
    )
    parser.add_argument(
        "--field-map",
        type=field_map,
        default=None,
        metavar="FIELD=PATH,...",
        help="where JSON lines hold the contract's fields, e.g. timestamp=@timestamp,user_id=user.id "
        "(dotted paths for nested fields; an unmapped field keeps its name)",
    )
    parser.add_argument(
        "--user-id-from",
        choices=USER_ID_SOURCES,
        default=AUTH_USER_OR_IP,
        help="access logs: the user is the authenticated user where the line has one, else the client IP; "
        "or always the client IP",
    )
    parser.add_argument(
        "--path-segments",
        type=positive_int,
        default=DEFAULT_PATH_SEGMENTS,
        help="access logs: the event type is the method and this many first path segments (ids as {id})",
    )
    parser.add_path("--output", "the warehouse's root; one folder per table, plus run_report.json")
    parser.add_run_date()
    parser.add_table_format()
    parser.add_argument(
        "--reload",
        action="store_true",
        help="load the given files again even when the root holds them unchanged (their rows are replaced)",
    )
    parser.add_argument("--window-minutes", type=positive_int, default=60, help="tumbling window length")
    parser.add_argument(
        "--z-threshold",
        type=positive_number,
        default=DEFAULT_Z_THRESHOLD,
        help="robust z-score above which a window is anomalous",
    )
    parser.add_argument(
        "--min-window-events",
        type=positive_int,
        default=DEFAULT_MIN_WINDOW_EVENTS,
        help="windows with fewer events are not scored for anomalies, nor part of a baseline",
    )
    parser.add_argument(
        "--baseline-days",
        type=positive_int,
        default=DEFAULT_BASELINE_DAYS,
        help="a window is scored against the windows starting in this many days up to it",
    )
    parser.add_argument(
        "--min-baseline-windows",
        type=positive_int,
        default=DEFAULT_MIN_BASELINE_WINDOWS,
        help="a window whose baseline holds fewer windows is not scored",
    )
    add_gate_arguments(parser, GATE_DEFAULTS)
    add_database_argument(parser, JOB)
    add_dashboard_argument(parser)
    return parser


def field_map(text: str) -> dict[str, str]:
    """--field-map's value: {contract field: path in the line}, every field present."""
    return parse_field_map(text, LOG_FIELDS)


def json_fields(args: argparse.Namespace) -> dict[str, str]:
    """Where this run reads each contract field: the map asked for, else the fields' own names."""
    return args.field_map or {name: name for name in LOG_FIELDS}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.field_map and args.input_format != JSON_FORMAT:
        parser.error(f"--field-map applies to --input-format json, not {args.input_format}")
    return args


def settings(args: argparse.Namespace) -> dict[str, str]:
    """The settings that shape a root's tables, as recorded on its first run (those of a
    format, on the first run that reads it)."""
    recorded = {
        "format": args.format,
        "window_minutes": str(args.window_minutes),
        "z_threshold": repr(float(args.z_threshold)),
        "min_window_events": str(args.min_window_events),
        "baseline_days": str(args.baseline_days),
        "min_baseline_windows": str(args.min_baseline_windows),
    }
    # The settings of one format's lines: a root may hold files of several formats.
    if args.input_format == JSON_FORMAT:
        recorded["field_map"] = canonical(json_fields(args))
    else:
        recorded.update({"user_id_from": args.user_id_from, "path_segments": str(args.path_segments)})
    return recorded


def settings_arguments(output: str, recorded: dict[str, str]) -> argparse.Namespace:
    """The job's arguments with the settings a root's ledger recorded (`settings`), defaults for
    those it does not: what a later writer of the root (erase_users) recomputes its aggregates
    with, parsed by the job's own parser."""
    known = settings(parse_args(["--input", output, "--output", output]))
    options = [
        text for name, value in recorded.items() if name in known for text in (f"--{name.replace('_', '-')}", value)
    ]
    return parse_args(["--input", output, "--output", output, *options])


def table_paths(output: str) -> dict[str, str]:
    return {name: join_path(output, name) for name in (EVENTS_TABLE, LEDGER_TABLE, QUARANTINE_TABLE, *AGGREGATES)}


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Load the batch's files the root does not hold yet, refresh every table over the whole
    history, and record the files as loaded; returns the run report it wrote."""
    paths = table_paths(args.output)
    delta.use_target_file_size(spark)
    asked = settings(args)
    source = ", ".join(args.input)
    with JobRun(spark, JOB, args, output=args.output, fmt=args.format) as run:
        with run.stage("plan_files"):
            listed = [status for path in args.input for status in input_file_statuses(spark, path)]
            with storage_errors(args.output, "read"):
                previous = open_warehouse(spark, args.output, paths, asked)
            plan = ledger.plan(listed, previous, args.reload)
            events_before = current_version(spark, paths[EVENTS_TABLE])
        refreshed_at = ledger.aggregates_version(spark, paths[LEDGER_TABLE])
        behind = aggregates_behind(spark, paths[EVENTS_TABLE], previous, events_before, refreshed_at)
        run.metric("files", plan.as_report())
        loaded: dict[str, dict[str, Any]] = {}
        ledger_version = None
        if plan.load:
            lines, contract = read_input(spark, args, plan.load)
            lines = run.drop_erased(lines, erasure.erased_hashes(spark, args.output), "logs")
            classified = run.accept_input(lines, contract, source=source)
            loaded, ledger_version = load_files(run, paths, asked, plan, classified)
        else:
            run.accept_nothing_new("log", source)
        events_version = delta.version(spark, paths[EVENTS_TABLE])
        if loaded or behind:
            batch = None
            if not behind and incremental(spark, paths, args.format):
                batch = Batch.of(plan, loaded, events_before)
            tables = publish_aggregates(run, paths, args, events_version, batch)
            run.reconcile(reconciliation(run, paths, tables, events_version, loaded))
        else:
            record_published(run, paths)
            run.metric("aggregates", {"events_version": events_version, "refreshed": False})
        if loaded:
            with run.stage("record_loaded_files"):
                record_loaded(run, paths, plan, loaded, (ledger_version, events_version))
        for name in (EVENTS_TABLE, QUARANTINE_TABLE, LEDGER_TABLE):
            run.record_table(name, paths[name], read_table(spark, paths[name], "delta").count())
        return run.finish(tables=sorted(run.report.tables))


def read_input(
    spark: SparkSession, args: argparse.Namespace, files: Sequence[ledger.InputFile]
) -> tuple[DataFrame, Contract]:
    """The batch's lines as the contract's raw fields in --input-format (their file spelt as
    the ledger does), and the contract that judges them."""
    paths = [f.path for f in files]
    if args.input_format == JSON_FORMAT:
        lines = read_json_fields(spark, paths, json_fields(args))
        if args.field_map:
            require_mapped_fields(lines, args.field_map)
        return canonical_files(lines).transform(with_json_request_fields), LOG_CONTRACT
    lines = canonical_files(read_lines(spark, paths))
    if args.input_format == CLOUDFRONT:
        parse = cloudfront_lines(cloudfront_layouts(spark, files), args.path_segments)
        return lines.transform(parse), CLOUDFRONT_CONTRACT
    parse, contract = ACCESS_LOGS[args.input_format]
    return lines.transform(parse(args.user_id_from, args.path_segments)), contract


def canonical_files(lines: DataFrame) -> DataFrame:
    """Each line's file spelt as the ledger spells it (`s3a://` as `s3://`)."""
    return lines.withColumn(SOURCE_FILE, canonical_uri_column(F.col(SOURCE_FILE)))


def cloudfront_layouts(spark: SparkSession, files: Sequence[ledger.InputFile]) -> DataFrame:
    """Per file, where its `#Fields:` header puts the fields the mapping reads (null when it
    has none, or lacks one): the driver reads each file's header lines, one small read each."""
    rows = []
    for f in files:
        layout = cloudfront_layout(head_lines(spark, f.path, HEADER_LINES, prefix="#"))
        rows.append((f.file, *(layout or (None, None))))
    return spark.createDataFrame(rows, f"{SOURCE_FILE} string, {LAYOUT} array<int>, {WIDTH} int")


def require_mapped_fields(lines: DataFrame, mapping: dict[str, str]) -> None:
    """Refuse, before anything is written, a --field-map naming a field that none of the first
    lines read holds: a misspelt path would otherwise quarantine every line. Only a proof
    counts: a field the first lines lack but later ones hold is the rules' business."""
    absent = absent_fields(lines, mapping, FIELD_MAP_PROBE_LINES)
    if absent:
        raise InputError(
            f"--field-map {', '.join(absent)}: none of the first {FIELD_MAP_PROBE_LINES} JSON lines read holds "
            "it (absent or null); check the path (dotted for nested fields)"
        )


def open_warehouse(spark: SparkSession, output: str, paths: dict[str, str], asked: dict[str, str]) -> dict:
    """The ledger of the root at `output` (empty for a new root), once the root is known to be
    a warehouse built with the settings this run asks for; else one line saying what to do."""
    if delta.table_exists(spark, paths[LEDGER_TABLE]):
        problems = ledger.settings_problems(ledger.recorded_settings(spark, paths[LEDGER_TABLE]), asked)
        if problems:
            raise InputError(
                f"{output} was built with {', '.join(problems)}: a root's settings are fixed on its first run; "
                f"run with them, or rebuild the root into an empty --output ({REBUILD_DOCS})"
            )
        return ledger.read(spark, paths[LEDGER_TABLE])
    earlier = [name for name in (*AGGREGATES, QUARANTINE_TABLE, EVENTS_TABLE) if path_exists(spark, paths[name])]
    if earlier or path_exists(spark, join_path(output, REPORT_FILE)):
        raise InputError(
            f"{output} holds the tables of a log_analytics run without a ledger of loaded files (the one-shot "
            f"job): rebuild it by loading all its input files into an empty --output ({REBUILD_DOCS})"
        )
    return {}


def current_version(spark: SparkSession, path: str) -> int | None:
    """The table's latest version, None when there is no table yet."""
    return delta.version(spark, path) if delta.table_exists(spark, path) else None


def aggregates_behind(
    spark: SparkSession,
    path: str,
    previous: dict[str, ledger.Entry],
    events_version: int | None,
    refreshed_at: int | None = None,
) -> bool:
    """Whether `events` (at `path`, at `events_version` before this run writes; None: no events
    yet) changed since the aggregates were last refreshed, by a loading run (its files' ledger
    rows) or by erase_users (`refreshed_at`, `ledger.aggregates_version`): a run died after
    writing events and before recording its files, or an erasure before recomputing them (the
    next run finishes its work with a full rebuild). Maintenance commits since then
    (compaction, purges, retention DELETEs) are no change: the aggregates keep the days
    retention removed."""
    versions = [entry.events_version for entry in previous.values() if entry.events_version is not None]
    if versions and refreshed_at is not None:
        versions.append(refreshed_at)
    if not versions or events_version is None:
        return True
    return delta.data_changed_since(spark, path, max(versions))


def load_files(
    run: JobRun, paths: dict[str, str], asked: dict[str, str], plan: ledger.Plan, classified: DataFrame
) -> tuple[dict[str, dict[str, Any]], int]:
    """Replace the quarantine rows and events of the batch's files (each replacement one atomic
    commit), after recording in the ledger that they are loading and which dates they are on;
    returns what each file holds, as the ledger will record it, and the ledger's version."""
    spark = run.spark
    with run.stage("summarise_files"):
        summary: dict[str, dict[str, Any]] = {
            f.file: {"input": f, "rows_read": 0, "rows_quarantined": 0, "dates": set()} for f in plan.load
        }
        for row in classified.transform(file_days).collect():
            entry = summary[row["file"]]
            entry["rows_read"] += row["rows"]
            entry["rows_quarantined"] += row["quarantined"]
            if row[PARTITION] is not None and row["rows"] > row["quarantined"]:
                entry["dates"].add(row[PARTITION])
    files = sorted(summary)
    # Every date a file's rows are on now or were on before: its old rows can only be there.
    for file, entry in summary.items():
        old = plan.previous.get(file)
        entry["event_dates"] = sorted(entry["dates"] | set(old.event_dates if old else ()))
    with run.stage("record_loading_files"):
        state = ledger.ensure(spark, paths[LEDGER_TABLE], LOADED_FILES, asked, LEDGER_PROPERTIES)
        loading = delta.upsert(
            spark,
            paths[LEDGER_TABLE],
            ledger_rows(spark, summary, ledger.LOADING, run.run_id, None),
            ["file"],
            "true",
            expected=state,
        )
    with run.stage("write_quarantine"):
        delta.ensure_table(spark, paths[QUARANTINE_TABLE], DATED_QUARANTINE, properties=QUARANTINE_PROPERTIES)
        quarantined = classified.transform(quarantined_rows).withColumn(INGESTION_DATE, F.lit(run.day).cast("date"))
        delta.replace_where(quarantined, paths[QUARANTINE_TABLE], delta.is_in("source_file", files))
    with run.stage("write_events"):
        delta.ensure_table(spark, paths[EVENTS_TABLE], EVENTS, [PARTITION], EVENTS_PROPERTIES)
        dates = sorted({d for entry in summary.values() for d in entry["event_dates"]})
        condition = f"{delta.is_in(PARTITION, dates)} AND {delta.is_in('source_file', files)}"
        delta.replace_where(classified.transform(to_events), paths[EVENTS_TABLE], condition, [PARTITION])
    return summary, loading.version


def ledger_rows(
    spark: SparkSession, summary: dict[str, dict[str, Any]], status: str, run_id: str, events_version: int | None
) -> DataFrame:
    """The ledger's rows for the batch's files."""
    at = datetime.now(UTC).replace(microsecond=0)
    rows = [
        (
            file,
            entry["input"].status.size,
            ledger.timestamp(entry["input"].status.modified_ms),
            status,
            entry["event_dates"],
            entry["rows_read"],
            entry["rows_read"] - entry["rows_quarantined"],
            entry["rows_quarantined"],
            events_version,
            run_id,
            at,
        )
        for file, entry in sorted(summary.items())
    ]
    return spark.createDataFrame(rows, LOADED_FILES)


def record_loaded(
    run: JobRun,
    paths: dict[str, str],
    plan: ledger.Plan,
    summary: dict[str, dict[str, Any]],
    versions: tuple[int, int],
) -> None:
    """Mark the batch's files loaded: only now, every table reflects them. `versions`: the
    ledger's and the events' versions this run left; a commit of another writer since then
    stops the run (one writer per root), the files still `loading`, for a rerun to finish."""
    ledger_version, events_version = versions
    for name, expected in ((LEDGER_TABLE, ledger_version), (EVENTS_TABLE, events_version)):
        found = delta.version(run.spark, paths[name])
        if found != expected:
            raise delta.ConcurrentWriteError(
                delta.concurrent_write_message(paths[name], f"version {found}, expected {expected}")
            )
    rows = ledger_rows(run.spark, summary, ledger.LOADED, run.run_id, events_version)
    merged = delta.upsert(run.spark, paths[LEDGER_TABLE], rows, ["file"], "true")
    run.metric("loaded_files", {**merged.as_report(), **plan.as_report()})


def read_events(spark: SparkSession, path: str, at_version: int) -> DataFrame:
    return spark.read.format("delta").option("versionAsOf", at_version).load(path)


@dataclass(frozen=True)
class Batch:
    """What a loading run changed in `events`, which scopes the refresh of the aggregates."""

    files: tuple[str, ...]
    # Every date the files' rows are on now or were on before (a re-delivered file's old dates).
    dates: tuple[date, ...]
    # Files that held rows before this run (re-delivered, reloaded, or left loading by a killed
    # run): their earlier events are replaced, so their users' rows are recomputed.
    replaced: tuple[str, ...]
    # The version of `events` the aggregates reflected before this run wrote.
    previous_version: int

    @classmethod
    def of(cls, plan: ledger.Plan, loaded: dict[str, dict[str, Any]], previous_version: int) -> Batch:
        return cls(
            files=tuple(sorted(loaded)),
            dates=tuple(sorted({d for entry in loaded.values() for d in entry["event_dates"]})),
            replaced=tuple(sorted(f.file for f in plan.load if f.file in plan.previous)),
            previous_version=previous_version,
        )


def incremental(spark: SparkSession, paths: dict[str, str], fmt: str) -> bool:
    """Whether the aggregates can be refreshed for a batch alone: Delta tables (replaceWhere
    and MERGE), all present. Parquet aggregates are rewritten whole on every loading run."""
    return fmt == "delta" and all(delta.table_exists(spark, paths[name]) for name in AGGREGATES)


def publish_aggregates(
    run: JobRun, paths: dict[str, str], args: argparse.Namespace, events_version: int, batch: Batch | None = None
) -> dict[str, Published]:
    """Bring every aggregate to `events` at `events_version`: with a `batch`, by recomputing
    only what it touched (`refresh_aggregates`); without one (a new root, a run finishing a
    killed one, Parquet aggregates, erase_users, a rebuild), from the whole history, each table
    replaced."""
    if batch is not None:
        return refresh_aggregates(run, paths, args, events_version, batch)
    run.metric("aggregates", {"events_version": events_version, "refreshed": True, "scope": "all"})
    events = read_events(run.spark, paths[EVENTS_TABLE], events_version)
    expectations = output_expectations()

    def publish(name: str, df: DataFrame) -> Published:
        return run.publish(name, df, expectations=expectations.get(name))

    def windows_then_anomalies() -> tuple[Published, ...]:
        windows = publish("activity_windows", activity_windows(events, args.window_minutes))
        anomalies = error_rate_anomalies(
            windows.rows, args.z_threshold, args.min_window_events, args.baseline_days, args.min_baseline_windows
        )
        return windows, publish("anomalies", anomalies)

    def users_then_days() -> tuple[Published, ...]:
        days = run.cache(events.transform(user_days))
        return publish("user_activity", user_activity(days)), publish("daily_engagement", daily_engagement(days))

    return run_concurrently(
        [
            lambda: [publish("error_patterns", error_patterns(events))],
            windows_then_anomalies,
            users_then_days,
        ]
    )


def refresh_aggregates(
    run: JobRun, paths: dict[str, str], args: argparse.Namespace, events_version: int, batch: Batch
) -> dict[str, Published]:
    """Recompute what `batch` changed, from the events of the dates it touched, and replace
    only that (Delta replaceWhere; user_activity by MERGE):

    - error_patterns: the batch's dates;
    - activity_windows: the windows overlapping them (with the neighbouring dates' events when
      a window spans midnight);
    - anomalies: those windows and the windows whose baseline reaches them (up to
      --baseline-days later), scored on activity_windows' rates from --baseline-days earlier;
    - user_activity: the batch's users, their counts added (first seen the least, last seen
      the greatest); the users of replaced files recomputed from all their events;
    - daily_engagement: the batch's dates and the days a user's first day moved from or to.
    """
    spark, expectations = run.spark, output_expectations()
    dates_sql = delta.is_in(PARTITION, batch.dates) if batch.dates else "false"
    windows = window_ranges(batch.dates, args.window_minutes)
    rescored = rescored_ranges(windows, args.baseline_days)
    baseline = [(start - args.baseline_days * SECONDS_PER_DAY, end) for start, end in rescored]
    events = read_events(spark, paths[EVENTS_TABLE], events_version)
    read_dates = sorted({*batch.dates, *range_dates(windows)})
    with run.stage("read_touched_events"):
        scoped = run.cache(events.where(delta.is_in(PARTITION, read_dates) if read_dates else "false"))
        scoped.count()
    scope = {
        "events_version": events_version,
        "refreshed": True,
        "scope": "batch",
        "dates": [d.isoformat() for d in batch.dates],
        "dates_read": len(read_dates),
        "window_ranges": len(windows),
    }

    def replace(name: str, condition: str) -> Callable[[DataFrame], None]:
        return lambda rows: delta.replace_where(rows, paths[name], condition)

    def patterns() -> list[Published]:
        changes = error_patterns(scoped.where(dates_sql))
        where = replace("error_patterns", dates_sql)
        return [run.publish_changes("error_patterns", changes, where, expectations=expectations["error_patterns"])]

    def windows_then_anomalies() -> tuple[Published, ...]:
        changes = activity_windows(scoped.where(in_ranges("event_ts", windows)), args.window_minutes)
        published = run.publish_changes(
            "activity_windows",
            changes,
            replace("activity_windows", in_ranges("window_start", windows)),
            expectations=expectations["activity_windows"],
        )
        scored = error_rate_anomalies(
            published.rows.where(in_ranges("window_start", baseline)),
            args.z_threshold,
            args.min_window_events,
            args.baseline_days,
            args.min_baseline_windows,
        ).where(in_ranges("window_start", rescored))
        anomalies = run.publish_changes(
            "anomalies",
            scored,
            replace("anomalies", in_ranges("window_start", rescored)),
            expectations=expectations["anomalies"],
        )
        return published, anomalies

    def users_then_days() -> tuple[Published, ...]:
        added = scoped.where(dates_sql).filter(F.col("source_file").isin(list(batch.files)))
        # Users of replaced files: their earlier contribution cannot be taken out of a sum (nor
        # of a first or last seen), so their rows are recomputed from all their events (a scan
        # of every date; re-deliveries and --reload are rare).
        recompute = spark.createDataFrame([], "user_id string")
        recomputed = spark.createDataFrame([], USER_ACTIVITY)
        if batch.replaced:
            replaced = delta.is_in("source_file", batch.replaced)
            earlier = read_events(spark, paths[EVENTS_TABLE], batch.previous_version)
            recompute = run.cache(earlier.where(f"({dates_sql}) AND {replaced}").select("user_id").distinct())
            theirs = events.join(F.broadcast(recompute), "user_id")
            recomputed = theirs.transform(user_days).transform(user_activity)
        current = read_table(spark, paths["user_activity"], "delta")
        changes = run.cache(
            user_activity_changes(current, added.transform(user_days).transform(user_activity), recompute, recomputed)
        )
        # Before the MERGE: it makes Spark recompute the cached rows read from user_activity,
        # which would then show each user's first day after the update as the one before.
        moved = [row[PARTITION] for row in changes.transform(moved_first_dates).collect()]
        days = sorted({*batch.dates, *moved})
        scope.update({"users_merged": users_rows(changes), "engagement_dates": len(days)})
        users = run.publish_changes(
            "user_activity",
            changes,
            lambda rows: delta.merge_changes(spark, paths["user_activity"], rows, ["user_id"], "deleted"),
            expectations=expectations["user_activity"],
            checked=~F.col("deleted"),
        )
        days_sql = delta.is_in(PARTITION, days) if days else "false"
        others = [d for d in days if d not in read_dates]
        day_events = scoped.where(days_sql)
        if others:
            day_events = day_events.unionByName(events.where(delta.is_in(PARTITION, others)))
        engagement = engagement_by_day(day_events.transform(user_days), first_dates(users.rows))
        return users, run.publish_changes(
            "daily_engagement",
            engagement,
            replace("daily_engagement", days_sql),
            expectations=expectations["daily_engagement"],
        )

    published = run_concurrently([patterns, windows_then_anomalies, users_then_days])
    with run.stage("compact_aggregates"):
        scope["compacted"] = compact_fragmented(spark, [paths[name] for name in AGGREGATES])
    run.metric("aggregates", scope)
    return published


def compact_fragmented(spark: SparkSession, tables: Sequence[str]) -> list[str]:
    """Compact (OPTIMIZE) the tables holding more than `AGGREGATE_MAX_FILES` data files;
    returns their folder names. Each refresh leaves a small file behind in every aggregate (the
    rows of the days it no longer replaces): without this, what reads a whole aggregate or a
    range of it (the cross-table sums, the anomaly baselines) would open a file per day of
    history. A compaction changes no row (a data-neutral commit)."""
    crowded = [path for path in tables if delta.file_count(spark, path) > AGGREGATE_MAX_FILES]
    for path in crowded:
        delta.compact(spark, path)
    return [path.rstrip("/").rsplit("/", 1)[-1] for path in crowded]


def users_rows(changes: DataFrame) -> dict[str, int]:
    """How many user_activity rows a `user_activity_changes` writes and deletes."""
    row = changes.agg(F.count("*").alias("rows"), F.count(F.when(F.col("deleted"), True)).alias("deleted")).first()
    return {"written": int(row["rows"]) - int(row["deleted"]), "deleted": int(row["deleted"])}


def record_published(run: JobRun, paths: dict[str, str]) -> None:
    """List the aggregates, left as they are, in the report of a run that loaded nothing."""
    for name in AGGREGATES:
        run.record_table(name, paths[name], read_table(run.spark, paths[name], run.fmt).count(), run.fmt)


def reconciliation(
    run: JobRun, paths: dict[str, str], tables: dict[str, Published], events_version: int, loaded: dict
) -> dict[str, bool]:
    """Cross-table sums that must agree: every aggregate with `events`, and the batch's files'
    rows in `events` and the quarantine with the input's accounting."""
    spark, counts = run.spark, run.counts
    events = read_events(spark, paths[EVENTS_TABLE], events_version)
    files = sorted(loaded)
    dates = sorted({d for entry in loaded.values() for d in entry["event_dates"]})
    in_batch = F.col("source_file").isin(files)
    batch = events.where(delta.is_in(PARTITION, dates)).filter(in_batch).count() if dates else 0
    quarantined = (
        read_table(spark, paths[QUARANTINE_TABLE], "delta").filter(F.col("source_file").isin(files)).count()
        if files
        else 0
    )
    stored = events.count()
    # Retention (maintain_tables --retain-days) deletes whole days of `events` and keeps their
    # aggregates, so the sums compare the days `events` still holds: from its first day, and for
    # windows from the first window starting on it (one spanning midnight may hold removed events).
    first_day = events.agg(F.min(PARTITION)).first()[0]
    day_start = F.lit(first_day).cast("timestamp") if first_day else None
    windows = tables["activity_windows"].rows
    if day_start is not None:
        windows = windows.filter(F.col("window_start") >= day_start)
    first_window = windows.agg(F.min("window_start")).first()[0]
    before_first_window = (0, 0)
    if first_day and first_window:
        early = events.where(delta.is_in(PARTITION, [first_day])).filter(F.col("event_ts") < F.lit(first_window))
        row = early.agg(F.count("*"), F.count(F.when(is_error(), True))).first()
        before_first_window = (row[0] or 0, row[1] or 0)
    window_totals = windows.agg(F.sum("event_count"), F.sum("error_count")).first()
    user_events = tables["user_activity"].rows.agg(F.sum("event_count")).first()[0] or 0
    patterns = tables["error_patterns"].rows
    engagement_days = tables["daily_engagement"].rows
    retained_away = False
    if first_day:
        patterns = patterns.filter(F.col(PARTITION) >= F.lit(first_day))
        retained_away = engagement_days.filter(F.col(PARTITION) < F.lit(first_day)).limit(1).count() > 0
        engagement_days = engagement_days.filter(F.col(PARTITION) >= F.lit(first_day))
    pattern_errors = patterns.agg(F.sum("error_count")).first()[0] or 0
    engagement = engagement_days.agg(F.sum("event_count")).first()
    new_users = tables["daily_engagement"].rows.agg(F.sum("new_users")).first()[0] or 0
    return {
        "quarantine_rows_of_the_batch_equal_rows_quarantined": quarantined == counts["rows_quarantined"],
        "events_of_the_batch_equal_rows_valid": batch == counts["rows_valid"],
        # the users' counts also hold the days retention removed from events
        "user_activity_events_equal_events": user_events >= stored if retained_away else user_events == stored,
        "activity_windows_events_equal_events": (window_totals[0] or 0) + before_first_window[0] == stored,
        "error_patterns_equal_window_errors": pattern_errors == (window_totals[1] or 0) + before_first_window[1],
        "daily_engagement_events_equal_events": (engagement[0] or 0) == stored,
        # every user is new on exactly one day of the history
        "daily_engagement_new_users_equal_users": new_users == tables["user_activity"].count,
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
