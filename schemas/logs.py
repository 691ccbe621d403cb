"""Web/app log events: the raw line contract and the log analytics output tables."""

from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# Fields read from each JSON line. All are read as text: the row rules decide what is
# valid (e.g. status_code may be a JSON number or a numeric string), nothing is coerced
# silently. Other fields on the line are ignored.
RAW_LOG = StructType(
    [
        StructField("timestamp", StringType()),
        StructField("user_id", StringType()),
        StructField("event_type", StringType()),
        StructField("status_code", StringType()),
    ]
)

# A valid, typed event: the single parse every output is computed from.
EVENT = StructType(
    [
        StructField("event_ts", TimestampType()),
        StructField("user_id", StringType()),
        StructField("event_type", StringType()),
        StructField("status_code", IntegerType()),
    ]
)

# What access log formats say of a request beyond the contract, and the format of the line.
REQUEST_FIELDS = StructType(
    [
        StructField("client_ip", StringType()),
        StructField("method", StringType()),
        StructField("path", StringType()),
        StructField("bytes", LongType()),
        StructField("user_agent", StringType()),
        StructField("latency_ms", DoubleType()),
        StructField("input_format", StringType()),
    ]
)

# The warehouse's events: every valid event of every file loaded into the root, partitioned by
# its UTC day, with the file it came from (so a re-delivered file's events can be replaced).
EVENTS = StructType(
    [
        *EVENT.fields,
        StructField("event_date", DateType(), nullable=False),
        StructField("source_file", StringType(), nullable=False),
        # Access logs' request fields (--input-format), null where a format lacks them and for
        # JSON lines; added to earlier roots' tables as nullable columns (common/delta.py).
        *REQUEST_FIELDS.fields,
    ]
)

# The ledger of files loaded into a root: one row per file (its path with s3a:// spelt s3://).
# `status` is `loading` from the moment a run starts writing the file's rows until every table
# reflects them, then `loaded`; `event_dates` are the days its rows are on and any day an
# earlier delivery's rows were on, so a reload rewrites only those partitions of `events`.
LOADED_FILES = StructType(
    [
        StructField("file", StringType(), nullable=False),
        StructField("size", LongType(), nullable=False),
        StructField("modification_time", TimestampType(), nullable=False),
        StructField("status", StringType(), nullable=False),
        StructField("event_dates", ArrayType(DateType(), containsNull=False)),
        StructField("rows_read", LongType()),
        StructField("rows_valid", LongType()),
        StructField("rows_quarantined", LongType()),
        StructField("events_version", LongType()),
        StructField("run_id", StringType()),
        StructField("updated_at", TimestampType()),
    ]
)

USER_ACTIVITY = StructType(
    [
        StructField("user_id", StringType()),
        StructField("event_count", LongType()),
        StructField("first_seen", TimestampType()),
        StructField("last_seen", TimestampType()),
    ]
)

ERROR_PATTERNS = StructType(
    [
        StructField("event_date", DateType()),
        StructField("status_code", IntegerType()),
        StructField("error_count", LongType()),
    ]
)

ACTIVITY_WINDOWS = StructType(
    [
        StructField("window_start", TimestampType()),
        StructField("window_end", TimestampType()),
        StructField("event_type", StringType()),
        StructField("event_count", LongType()),
        StructField("distinct_users", LongType()),
        StructField("error_count", LongType()),
    ]
)

ANOMALIES = StructType(
    [
        StructField("window_start", TimestampType()),
        StructField("window_end", TimestampType()),
        StructField("event_count", LongType()),
        StructField("error_count", LongType()),
        StructField("error_rate", DoubleType()),
        StructField("baseline_windows", LongType()),
        StructField("median_error_rate", DoubleType()),
        StructField("robust_scale", DoubleType()),
        StructField("robust_z_score", DoubleType()),
        StructField("z_threshold", DoubleType()),
    ]
)

# Engagement per UTC day (the User Activity Dashboard). A user is new on the first day of the
# whole history the root holds that shows them, returning on every later day.
DAILY_ENGAGEMENT = StructType(
    [
        StructField("event_date", DateType()),
        StructField("active_users", LongType()),
        StructField("event_count", LongType()),
        StructField("events_per_user_mean", DoubleType()),
        StructField("events_per_user_median", DoubleType()),
        StructField("events_per_user_p90", DoubleType()),
        StructField("new_users", LongType()),
        StructField("returning_users", LongType()),
    ]
)
