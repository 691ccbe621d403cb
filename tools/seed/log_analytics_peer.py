"""Log analytics as a competent engineer would write it in one sitting: the same work as our
job's first load into an empty root, without its suites, report, ledger or incremental refresh.
`make bench` times it beside the seed script and the job, to tell what our job's extra cost buys.

    spark-submit log_analytics_peer.py <input> <output>

The input is the job's: JSON lines (`.gz` too), a file or a folder read recursively. An explicit
schema; Spark's JSON reader in PERMISSIVE mode with a corrupt-record column; the contract's rules
(docs/jobs/log_analytics.md, Input contract) as `when` expressions giving a reason, in the
contract's order; rejected lines written with their raw text, reason and file; the events as
Delta partitioned by `event_date`; the five aggregates as Delta, computed from the events
written: user_activity, error_patterns per day and status, activity_windows (hourly `window()`),
anomalies (the robust z-score of each window's error rate against all the run's windows) and
daily_engagement (new users against returning, percentiles by `percentile_approx`).

Where it is plainer than the job: Spark's reader drops blank lines (the job quarantines them as
`blank_line`) and takes a line holding an array of objects as its objects, and the anomaly
baseline is the run's windows, not each window's last 28 days.
"""

import sys

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

input_path, output_path = sys.argv[1], sys.argv[2]

WINDOW_MINUTES = 60
Z_THRESHOLD = 3.5
MIN_WINDOW_EVENTS = 20
# A date, `T` or a space, a time with seconds; the rest (fraction, zone) is left to the cast.
ISO_TIMESTAMP = r"^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}"

spark = (
    SparkSession.builder.appName("log_analytics_peer")
    .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
    .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
    .config("spark.sql.session.timeZone", "UTC")
    .getOrCreate()
)


def write_delta(df: DataFrame, table: str, *partitions: str) -> None:
    df.write.format("delta").mode("overwrite").partitionBy(*partitions).save(f"{output_path}/{table}")


schema = StructType(
    [
        StructField("timestamp", StringType()),
        StructField("user_id", StringType()),
        StructField("event_type", StringType()),
        StructField("status_code", StringType()),
        StructField("_corrupt_record", StringType()),
    ]
)
raw = (
    spark.read.schema(schema)
    .option("mode", "PERMISSIVE")
    .option("columnNameOfCorruptRecord", "_corrupt_record")
    .option("recursiveFileLookup", "true")
    .json(input_path)
    .withColumn("source_file", F.input_file_name())
    .withColumn("ts", F.when(F.col("timestamp").rlike(ISO_TIMESTAMP), F.to_timestamp("timestamp")))
    .withColumn("status", F.when(F.col("status_code").rlike(r"^\s*\d{1,3}\s*$"), F.trim("status_code").cast("int")))
)


def blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(column) == "")


def nested(column: str) -> Column:
    return F.col(column).startswith("{") | F.col(column).startswith("[")


reason = (
    F.when(F.col("_corrupt_record").isNotNull(), "malformed_json")
    .when(blank("timestamp"), "missing_timestamp")
    .when(F.col("ts").isNull(), "invalid_timestamp")
    .when(blank("user_id"), "missing_user_id")
    .when(nested("user_id"), "invalid_user_id")
    .when(blank("event_type"), "missing_event_type")
    .when(nested("event_type"), "invalid_event_type")
    .when(blank("status_code"), "missing_status_code")
    .when(~F.coalesce(F.col("status").between(100, 599), F.lit(False)), "invalid_status_code")
)
classified = raw.withColumn("reason", reason).cache()

rejected = classified.filter(F.col("reason").isNotNull()).select(
    F.coalesce("_corrupt_record", F.to_json(F.struct("timestamp", "user_id", "event_type", "status_code"))).alias(
        "raw_record"
    ),
    "reason",
    "source_file",
)
write_delta(rejected, "quarantine")

valid = classified.filter(F.col("reason").isNull()).select(
    F.col("ts").alias("event_ts"),
    F.trim("user_id").alias("user_id"),
    F.trim("event_type").alias("event_type"),
    F.col("status").alias("status_code"),
    F.to_date("ts").alias("event_date"),
    "source_file",
)
write_delta(valid.repartition("event_date"), "events", "event_date")

events = spark.read.format("delta").load(f"{output_path}/events").cache()
is_error = F.col("status_code") >= 400

user_activity = events.groupBy("user_id").agg(
    F.count("*").alias("event_count"), F.min("event_ts").alias("first_seen"), F.max("event_ts").alias("last_seen")
)
write_delta(user_activity, "user_activity")

error_patterns = events.filter(is_error).groupBy("event_date", "status_code").agg(F.count("*").alias("error_count"))
write_delta(error_patterns, "error_patterns")

windows = (
    events.groupBy(F.window("event_ts", f"{WINDOW_MINUTES} minutes").alias("window"), "event_type")
    .agg(
        F.count("*").alias("event_count"),
        F.countDistinct("user_id").alias("distinct_users"),
        F.count(F.when(is_error, True)).alias("error_count"),
    )
    .select(
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        "event_type",
        "event_count",
        "distinct_users",
        "error_count",
    )
    .cache()
)
write_delta(windows, "activity_windows")

# Each window's error rate (all event types), against the median and MAD of the run's windows;
# when most windows share one rate (MAD 0), the mean absolute deviation instead.
rates = (
    windows.groupBy("window_start", "window_end")
    .agg(F.sum("event_count").alias("event_count"), F.sum("error_count").alias("error_count"))
    .filter(F.col("event_count") >= MIN_WINDOW_EVENTS)
    .withColumn("error_rate", F.col("error_count") / F.col("event_count"))
)
median = rates.agg(F.median("error_rate").alias("median_error_rate"))
deviations = rates.crossJoin(median).withColumn("deviation", F.abs(F.col("error_rate") - F.col("median_error_rate")))
spread = deviations.agg(
    F.first("median_error_rate").alias("median_error_rate"),
    F.count("*").alias("baseline_windows"),
    F.median("deviation").alias("mad"),
    F.avg("deviation").alias("mean_abs_deviation"),
)
anomalies = (
    rates.crossJoin(spread)
    .withColumn(
        "robust_scale",
        F.when(F.col("mad") > 0, F.col("mad") * 1.4826).when(
            F.col("mean_abs_deviation") > 0, F.col("mean_abs_deviation") * 1.2533
        ),
    )
    .withColumn("robust_z_score", (F.col("error_rate") - F.col("median_error_rate")) / F.col("robust_scale"))
    .withColumn("z_threshold", F.lit(Z_THRESHOLD))
    .filter(F.col("robust_z_score") > F.col("z_threshold"))
    .drop("mad", "mean_abs_deviation")
)
write_delta(anomalies, "anomalies")

per_user_day = events.groupBy("event_date", "user_id").agg(F.count("*").alias("events"))
first_day = per_user_day.groupBy("user_id").agg(F.min("event_date").alias("first_date"))
daily_engagement = (
    per_user_day.join(first_day, "user_id")
    .groupBy("event_date")
    .agg(
        F.count("*").alias("active_users"),
        F.sum("events").alias("event_count"),
        F.avg("events").alias("events_per_user_mean"),
        F.percentile_approx("events", 0.5).alias("events_per_user_median"),
        F.percentile_approx("events", 0.9).alias("events_per_user_p90"),
        F.count(F.when(F.col("event_date") == F.col("first_date"), True)).alias("new_users"),
    )
    .withColumn("returning_users", F.col("active_users") - F.col("new_users"))
)
write_delta(daily_engagement, "daily_engagement")
