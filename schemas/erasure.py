"""The record of erased users a root keeps, so that later loads drop their lines."""

from pyspark.sql.types import StringType, StructField, StructType, TimestampType

ERASED_USERS = StructType(
    [
        # SHA-256 of the id (UTF-8, hex): the root keeps no erased id in clear.
        StructField("user_hash", StringType(), nullable=False),
        StructField("erased_at", TimestampType()),
        StructField("run_id", StringType()),
    ]
)
