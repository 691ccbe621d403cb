"""The quarantine table every job writes: rows that broke a rule, kept verbatim with why."""

from pyspark.sql.types import DateType, StringType, StructField, StructType

QUARANTINE = StructType(
    [
        StructField("raw_record", StringType()),
        StructField("reason", StringType()),
        StructField("source_file", StringType()),
    ]
)

# The quarantine a warehouse keeps across runs (the log warehouse's, the ETL's): each row's
# ingestion date, the day of the run that wrote it (its --date, else today, UTC), which
# maintain_tables --retain-days quarantine=N deletes by. Nullable and last: added to tables of
# earlier releases by table evolution (common.delta.ensure_table), their rows left null.
INGESTION_DATE = "ingestion_date"
DATED_QUARANTINE = StructType([*QUARANTINE.fields, StructField(INGESTION_DATE, DateType())])
