"""Web/app log events: the raw line contract and the log analytics output tables."""

from pyspark.sql.types import (
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
        StructField("median_error_rate", DoubleType()),
        StructField("robust_scale", DoubleType()),
        StructField("robust_z_score", DoubleType()),
        StructField("z_threshold", DoubleType()),
    ]
)

# Engagement per UTC day (the User Activity Dashboard). "New" and "returning" are judged within
# the run's input only: a user is new on the first day the input shows them, whatever earlier
# runs saw.
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
