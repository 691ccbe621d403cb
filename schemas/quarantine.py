"""The quarantine table every job writes: rows that broke a rule, kept verbatim with why."""

from pyspark.sql.types import StringType, StructField, StructType

QUARANTINE = StructType(
    [
        StructField("raw_record", StringType()),
        StructField("reason", StringType()),
        StructField("source_file", StringType()),
    ]
)
