"""Comparing a job's written tables with the golden files under tests/fixtures/<job>/expected."""

from __future__ import annotations

from pathlib import Path

from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StructType


def read_expected(spark: SparkSession, path: Path, schema: StructType) -> DataFrame:
    """Expected rows as JSON lines, read with the table's contract schema."""
    return spark.read.schema(schema).option("mode", "FAILFAST").json(str(path))


def file_name_only(df: DataFrame, column: str = "source_file") -> DataFrame:
    """Source files are absolute paths that differ per checkout; compare their names."""
    return df.withColumn(column, F.element_at(F.split(column, "/"), -1))


def assert_table_equals(actual: DataFrame, expected: DataFrame, approx: bool = False) -> None:
    """Same columns in the same order, same rows in any order; floats to 1e-9 when `approx`.

    Rows are put in order by every column Spark can sort (a map column cannot be sorted).
    """
    sortable = [f.name for f in actual.schema.fields if not isinstance(f.dataType, MapType)]
    ordered_actual = actual.orderBy(*sortable)
    ordered_expected = expected.orderBy(*sortable)
    if approx:
        assert_approx_df_equality(ordered_actual, ordered_expected, precision=1e-9, ignore_nullable=True)
    else:
        assert_df_equality(ordered_actual, ordered_expected, ignore_nullable=True)
