"""Log analytics: JSON web/app logs in; user activity, error patterns, activity windows and
anomalies out (the mission's "Log Analysis with Amazon EMR").

    lines ─ read once ─> classify by the log contract ─┬─> quarantine (raw line, reason, file)
                                                       └─> events ─┬─> user_activity
                                                                   ├─> error_patterns
                                                                   ├─> activity_windows ─> anomalies
                                                                   └─> daily_engagement
    then athena_ddl.sql, run_report.json, written last: the run's completion marker, and with
    --dashboard dashboard.html, drawn from what the report lists.

spark-submit --py-files dist/spark_jobs-<version>.zip jobs/log_analytics.py --input ... --output ...
python -m jobs.log_analytics --help
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.athena import add_database_argument
from common.classify import quarantined_rows, valid_rows
from common.cli import JobArgumentParser, positive_int, positive_number, run_job
from common.dashboard import add_dashboard_argument
from common.job import JobRun, Published, run_concurrently
from common.lines import read_json_lines
from common.rules.logs import ERROR_STATUS_MIN, LOG_CONTRACT, output_expectations
from schemas import conform_to
from schemas.logs import ACTIVITY_WINDOWS, ANOMALIES, DAILY_ENGAGEMENT, ERROR_PATTERNS, EVENT, RAW_LOG, USER_ACTIVITY

JOB = "log_analytics"

# Anomaly detection (docs/jobs/log_analytics.md, "Anomalies"): a window is anomalous when its error rate is
# more than Z robust standard deviations above the median window, and it has enough events
# for its rate to mean something.
DEFAULT_Z_THRESHOLD = 3.5
DEFAULT_MIN_WINDOW_EVENTS = 20
# Scale factors that turn a median / mean absolute deviation into a standard deviation
# estimate for normally distributed data (Iglewicz & Hoaglin's modified z-score).
MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = 1.2533


# ── transforms: DataFrame -> DataFrame, no IO ────────────────────────────────────────────


def to_events(classified: DataFrame) -> DataFrame:
    """The valid rows as typed events."""
    return classified.transform(valid_rows).transform(conform_to(EVENT))


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
    """Per error status code (>= 400): how many events."""
    return (
        events.filter(is_error())
        .groupBy("status_code")
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
    in this input.

    Percentiles are exact (`percentile`, linearly interpolated), so a rerun gives the same
    figures: approximate ones would move with the partitioning.
    """
    per_user_day = days.select("event_date", "user_id", "events")
    first_day = per_user_day.groupBy("user_id").agg(F.min("event_date").alias("first_date"))
    return (
        per_user_day.join(first_day, "user_id")
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


def error_rate_anomalies(
    windows: DataFrame,
    z_threshold: float = DEFAULT_Z_THRESHOLD,
    min_window_events: int = DEFAULT_MIN_WINDOW_EVENTS,
) -> DataFrame:
    """Windows whose error rate is unusually high against the other windows.

    Robust z-score: z = (rate - median) / scale, scale = 1.4826 * MAD (median absolute
    deviation), or 1.2533 * mean absolute deviation when more than half the windows share
    the median rate (MAD = 0). Median and MAD ignore the outliers they are looking for, which
    a mean and standard deviation would not. Windows with fewer than `min_window_events`
    events are neither scored nor part of the baseline: 1 error in 2 events is not a spike.
    """
    per_window = (
        windows.groupBy("window_start", "window_end")
        .agg(F.sum("event_count").alias("event_count"), F.sum("error_count").alias("error_count"))
        .filter(F.col("event_count") >= min_window_events)
        .withColumn("error_rate", F.col("error_count") / F.col("event_count"))
    )
    baseline = per_window.agg(F.median("error_rate").alias("median_error_rate"))
    deviations = per_window.crossJoin(baseline).withColumn(
        "abs_deviation", F.abs(F.col("error_rate") - F.col("median_error_rate"))
    )
    spread = deviations.agg(
        F.median("abs_deviation").alias("mad"), F.avg("abs_deviation").alias("mean_abs_deviation")
    ).select(
        F.when(F.col("mad") > 0, F.col("mad") * MAD_TO_SIGMA)
        .when(F.col("mean_abs_deviation") > 0, F.col("mean_abs_deviation") * MEAN_AD_TO_SIGMA)
        .alias("robust_scale")
    )
    return (
        deviations.crossJoin(spread)
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
        description="Clean JSON-lines web/app logs and write user activity, error patterns, "
        "activity per time window and error-rate anomalies, plus a quarantine of bad lines.",
    )
    parser.add_path("--input", "JSON-lines logs: file, directory or glob; local or s3://")
    parser.add_path("--output", "output root; one folder per table, plus run_report.json")
    parser.add_table_format()
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
        help="windows with fewer events are not scored for anomalies",
    )
    add_database_argument(parser, JOB)
    add_dashboard_argument(parser)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Run the pipeline; returns the run report it wrote."""
    with JobRun(spark, JOB, args, output=args.output, fmt=args.format) as run:
        classified = run.accept_input(read_json_lines(spark, args.input, RAW_LOG), LOG_CONTRACT, source=args.input)
        # The rules proved each event's fields; the suites prove what rows cannot, on the outputs.
        events = classified.transform(to_events)
        expectations = output_expectations()

        def publish(name: str, df: DataFrame) -> Published:
            return run.publish(name, df, expectations=expectations.get(name))

        def windows_then_anomalies() -> tuple[Published, ...]:
            windows = publish("activity_windows", activity_windows(events, args.window_minutes))
            anomalies = error_rate_anomalies(windows.rows, args.z_threshold, args.min_window_events)
            return windows, publish("anomalies", anomalies)

        def users_then_days() -> tuple[Published, ...]:
            days = run.cache(events.transform(user_days))
            return publish("user_activity", user_activity(days)), publish("daily_engagement", daily_engagement(days))

        tables = run_concurrently(
            [
                lambda: [publish("quarantine", classified.transform(quarantined_rows))],
                lambda: [publish("error_patterns", error_patterns(events))],
                windows_then_anomalies,
                users_then_days,
            ]
        )
        run.reconcile(reconciliation(run.counts, tables))
        return run.finish(tables=sorted(run.report.tables))


def reconciliation(counts: dict[str, Any], tables: dict[str, Published]) -> dict[str, bool]:
    """Cross-table sums that must agree with the row accounting."""
    valid = counts["rows_valid"]
    window_totals = tables["activity_windows"].rows.agg(F.sum("event_count"), F.sum("error_count")).first()
    user_events = tables["user_activity"].rows.agg(F.sum("event_count")).first()[0]
    pattern_errors = tables["error_patterns"].rows.agg(F.sum("error_count")).first()[0] or 0
    engagement = tables["daily_engagement"].rows.agg(F.sum("event_count"), F.sum("new_users")).first()
    return {
        "quarantine_rows_equal_rows_quarantined": tables["quarantine"].count == counts["rows_quarantined"],
        "user_activity_events_equal_rows_valid": user_events == valid,
        "activity_windows_events_equal_rows_valid": window_totals[0] == valid,
        "error_patterns_equal_window_errors": pattern_errors == window_totals[1],
        "daily_engagement_events_equal_rows_valid": engagement[0] == valid,
        # every user is new on exactly one day of the input
        "daily_engagement_new_users_equal_users": engagement[1] == tables["user_activity"].count,
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
