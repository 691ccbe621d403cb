"""Transactions and user profiles: raw line contracts and the warehouse tables built from them.

Money is DecimalType(18, 2) everywhere (docs/jobs/transaction_etl.md, "Why decimal, not double").
"""

from pyspark.sql.types import (
    DateType,
    DecimalType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from schemas.quarantine import INGESTION_DATE, QUARANTINE

MONEY = DecimalType(18, 2)

# Fields read from each transaction line, all as text: the row rules decide what is valid
# (an amount may be a JSON number or a numeric string). Other fields are ignored.
RAW_TRANSACTION = StructType(
    [
        StructField("transaction_id", StringType()),
        StructField("user_id", StringType()),
        StructField("timestamp", StringType()),
        StructField("amount", StringType()),
    ]
)

# Fields read from each profile line; only user_id is required.
RAW_PROFILE = StructType(
    [
        StructField("user_id", StringType()),
        StructField("country", StringType()),
        StructField("segment", StringType()),
        StructField("signup_date", StringType()),
        StructField("updated_at", StringType()),
    ]
)

# Silver: one row per transaction_id, the latest version seen. Partitioned by transaction_date.
TRANSACTIONS = StructType(
    [
        StructField("transaction_id", StringType(), nullable=False),
        StructField("user_id", StringType(), nullable=False),
        StructField("transaction_ts", TimestampType(), nullable=False),
        StructField("transaction_date", DateType(), nullable=False),
        StructField("amount", MONEY, nullable=False),
        StructField("source_file", StringType()),
        StructField("batch_id", StringType()),
        StructField("ingested_at", TimestampType()),
    ]
)

# Gold: the seed's aggregate per user and day, over the whole silver table.
# Sums of decimal(18,2) stay decimal(18,2); a total that overflowed would be null and fail
# the run's expectations instead of being wrong.
DAILY_USER_TOTALS = StructType(
    [
        StructField("user_id", StringType(), nullable=False),
        StructField("transaction_date", DateType(), nullable=False),
        StructField("total_amount", MONEY, nullable=False),
        StructField("transaction_count", LongType(), nullable=False),
    ]
)

# Profile attributes users filter the totals by, one row per user_id.
USER_PROFILES = StructType(
    [
        StructField("user_id", StringType(), nullable=False),
        StructField("country", StringType()),
        StructField("segment", StringType()),
        StructField("signup_date", DateType()),
        StructField("updated_at", TimestampType()),
        StructField("batch_id", StringType()),
        StructField("ingested_at", TimestampType()),
    ]
)

# The quarantine of both inputs: the shared columns, plus which input and which batch.
ETL_QUARANTINE = StructType(
    [
        *QUARANTINE.fields,
        StructField("dataset", StringType()),
        StructField("batch_id", StringType()),
        # The run's day: what retention deletes by (schemas/quarantine.py INGESTION_DATE).
        StructField(INGESTION_DATE, DateType()),
    ]
)

# What is exported for Redshift COPY: exactly the gold table's columns, in the table's order.
REDSHIFT_DAILY_USER_TOTALS = DAILY_USER_TOTALS
REDSHIFT_USER_PROFILES = StructType(
    [f for f in USER_PROFILES.fields if f.name in ("user_id", "country", "segment", "signup_date")]
)
