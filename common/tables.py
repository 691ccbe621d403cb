"""Reading and writing the tables this project writes (Delta or Parquet), local or s3://."""

from __future__ import annotations

from typing import Literal

from pyspark.sql import DataFrame, SparkSession

from common.delta import keep_people_out_of_statistics
from common.storage_errors import storage_errors

TableFormat = Literal["delta", "parquet"]
TABLE_FORMATS: tuple[str, ...] = ("delta", "parquet")


def read_table(spark: SparkSession, path: str, fmt: TableFormat) -> DataFrame:
    """Read a table this project wrote (its schema travels with the Delta log / Parquet footer)."""
    return spark.read.format(fmt).load(path)


def write_table(df: DataFrame, path: str, fmt: TableFormat, partition_by: list[str] | None = None) -> None:
    """Replace the table at `path`: a rerun never appends duplicates.

    Delta replaces atomically (readers see the old or the new version, never a mix) and may
    change schema, and keeps no statistics of a person's id (`delta.keep_people_out_of_statistics`);
    Parquet overwrites the folder.
    """
    writer = df.write.format(fmt).mode("overwrite")
    if fmt == "delta":
        writer = writer.option("overwriteSchema", "true")
        # Rows naming people: their ids out of the statistics in the Delta log (docs/privacy.md).
        for key, value in keep_people_out_of_statistics(df.sparkSession, path, df.schema, partition_by or ()).items():
            writer = writer.option(key, value)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    with storage_errors(path, "write"):
        writer.save(path)
