"""Comparing a job's written tables with the golden files under tests/fixtures/<job>/expected."""

from __future__ import annotations

from pathlib import Path

from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StructType

from schemas.catalog import OUTPUT_TABLES
from schemas.quarantine import INGESTION_DATE
from tools.emr import registry


def read_expected(spark: SparkSession, path: Path, schema: StructType) -> DataFrame:
    """Expected rows as JSON lines, read with the table's contract schema."""
    return spark.read.schema(schema).option("mode", "FAILFAST").json(str(path))


def file_name_only(df: DataFrame, column: str = "source_file") -> DataFrame:
    """Source files are absolute paths that differ per checkout; compare their names (a table
    without the column is returned as it is)."""
    if column not in df.columns:
        return df
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


# ── the golden cases' table specs and helpers, shared by the per-job golden tests, the
# end-to-end spark-submit test and the S3 test ──


def without(schema: StructType, *names: str) -> StructType:
    return StructType([f for f in schema.fields if f.name not in names])


# The log warehouse's tables compared with golden files: all but the ledger of loaded files
# (paths, times and run ids differ per run; its tests check it apart).
# The quarantine's ingestion date is the run's day: left out of the comparison.
LOG_ANALYTICS_TABLES = {
    name: without(schema, INGESTION_DATE)
    for name, schema in OUTPUT_TABLES["log_analytics"].items()
    if name != "loaded_files"
}
# The golden fixtures hold a bad line of every kind the contracts reject (about 40 % of their
# lines): they pass a quarantine gate that lets every share through, explicitly.
LOOSE_GATES = ("--max-quarantine-rate", "1")
# The golden log fixture's options: hourly windows, scored from 3 events, against a baseline of
# at least 4 windows (the fixture holds one day: 8 windows).
LOG_ANALYTICS_OPTIONS = (
    *LOOSE_GATES,
    "--window-minutes",
    "60",
    "--min-window-events",
    "3",
    "--min-baseline-windows",
    "4",
    "--z-threshold",
    "3",
)


def log_analytics_args(fixtures: Path, output: Path, *extra: str) -> list[str]:
    """The log analytics job on the golden fixture, as the registry runs it."""
    job = registry.find("log_analytics")
    inputs = {"--input": str(fixtures / "log_analytics" / "input")}
    return job.invocation(inputs=inputs, output=str(output), options=(*LOG_ANALYTICS_OPTIONS, *extra))


# Table -> (contract, columns compared with the golden file: ingestion times and days vary per run).
TRANSACTION_ETL_TABLES = {
    name: (schema, without(schema, "ingested_at", INGESTION_DATE))
    for name, schema in OUTPUT_TABLES["transaction_etl"].items()
}


GROUPS = {"A": 0, "B": 1, "C": 2}  # group letter (first letter of the id) -> segment in expected files


def relabelling(segments: dict[str, int]) -> dict[int, int]:
    """The job's segment number -> the expected files' number for the same group. KMeans numbers
    segments arbitrarily; a segment mixing groups maps to one of them, so its rows then differ."""
    return {segment: GROUPS[customer[0]] for customer, segment in segments.items()}


def relabelled(df: DataFrame, relabel: dict[int, int]) -> DataFrame:
    mapping = F.create_map(*(F.lit(v) for pair in sorted(relabel.items()) for v in pair))
    return df.withColumn("segment", mapping[F.col("segment")])


def orderable(df: DataFrame) -> DataFrame:
    """Maps cannot be sorted or compared by Spark: as sorted arrays of (category, share)."""
    shares = [f.name for f in df.schema.fields if f.name.endswith("_share")]
    return df.withColumns({name: F.array_sort(F.map_entries(name)) for name in shares})
