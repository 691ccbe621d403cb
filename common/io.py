"""Reading and writing, for local paths and s3:// URIs alike (through Hadoop's FileSystem).

Every reader takes an explicit schema: column names and types are a contract, never inferred.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from common.errors import InputError

TableFormat = Literal["delta", "parquet"]
TABLE_FORMATS: tuple[str, ...] = ("delta", "parquet")

# Columns the JSON-lines reader adds in front of the parsed fields.
RAW_RECORD = "raw_record"
SOURCE_FILE = "source_file"
CORRUPT_RECORD = "_corrupt_record"


def _filesystem(spark: SparkSession, path: str):
    """The Hadoop FileSystem serving `path` (local, S3A or EMRFS) and the path as a JVM object."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    return hadoop_path.getFileSystem(conf), hadoop_path


def _is_visible(name: str) -> bool:
    """Spark skips files starting with '_' or '.' (markers, checksums); so do our checks."""
    return not name.startswith(("_", "."))


def require_input(spark: SparkSession, path: str) -> None:
    """Fail with one line unless `path` (file, directory or glob) names at least one data file."""
    fs, hadoop_path = _filesystem(spark, path)
    matches = fs.globStatus(hadoop_path)
    if matches is None or len(matches) == 0:
        raise InputError(f"input path not found: {path}")
    for status in matches:
        if status.isFile():
            return
        files = fs.listFiles(status.getPath(), True)
        while files.hasNext():
            file_status = files.next()
            if _is_visible(file_status.getPath().getName()):
                return
    raise InputError(f"no input files under {path}")


# A JSON number token, as RFC 8259 writes it.
JSON_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"


def quote_json_numbers(text: Column, fields: Sequence[str]) -> Column:
    """`text` with the JSON number values of `fields` turned into JSON strings of the same digits.

    Spark's JSON reader turns a number read into a string field into a double first
    (12.3400000000000001 arrives as "12.34", 1234567890123456.78 as "1.2345678901234568E15").
    Quoting the number keeps its exact text for the field's parser to judge. A number that is
    not a valid JSON number stays as it is, so the line stays as broken as it was.
    """
    if not fields:
        return text
    names = "|".join(re.escape(name) for name in fields)
    return F.regexp_replace(text, rf'("(?:{names})"\s*:\s*)({JSON_NUMBER})(?=\s*[,}}])', '$1"$2"')


def read_json_lines(spark: SparkSession, path: str, schema: StructType, exact_numbers: Sequence[str] = ()) -> DataFrame:
    """Parse JSON lines against `schema`, one row per input line, keeping what went wrong.

    Returns `raw_record` (the line), `source_file`, the schema's fields and `_corrupt_record`
    (set when the line is not JSON). Reading lines as text, not with `spark.read.json`,
    keeps one row per line: a JSON array on a line is one bad record, not several rows.
    `exact_numbers` names string fields whose JSON numbers must keep their exact digits
    (money): see `quote_json_numbers`. `raw_record` is always the line as read.
    """
    require_input(spark, path)
    parse_schema = StructType([*schema.fields, StructField(CORRUPT_RECORD, StringType())])
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
    lines = spark.read.option("recursiveFileLookup", "true").text(path)
    return lines.select(
        F.col("value").alias(RAW_RECORD),
        F.col("_metadata.file_path").alias(SOURCE_FILE),
        F.from_json(quote_json_numbers(F.col("value"), exact_numbers), parse_schema, options).alias("_parsed"),
    ).select(RAW_RECORD, SOURCE_FILE, "_parsed.*")


def read_table(spark: SparkSession, path: str, fmt: TableFormat) -> DataFrame:
    """Read a table this project wrote (its schema travels with the Delta log / Parquet footer)."""
    return spark.read.format(fmt).load(path)


def write_table(df: DataFrame, path: str, fmt: TableFormat, partition_by: list[str] | None = None) -> None:
    """Replace the table at `path`: a rerun never appends duplicates.

    Delta replaces atomically (readers see the old or the new version, never a mix) and may
    change schema; Parquet overwrites the folder.
    """
    writer = df.write.format(fmt).mode("overwrite")
    if fmt == "delta":
        writer = writer.option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file (e.g. a run report) wherever Spark can write tables."""
    fs, hadoop_path = _filesystem(spark, path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read_text(spark: SparkSession, path: str) -> str:
    """Read a small text file written by `write_text`."""
    fs, hadoop_path = _filesystem(spark, path)
    stream = fs.open(hadoop_path)
    try:
        jvm = spark.sparkContext._jvm
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def delete_path(spark: SparkSession, path: str) -> None:
    """Remove a file or folder if present (used to retire a stale completion marker)."""
    fs, hadoop_path = _filesystem(spark, path)
    if fs.exists(hadoop_path):
        fs.delete(hadoop_path, True)


def list_data_files(spark: SparkSession, path: str, suffix: str = "") -> list[tuple[str, int]]:
    """(URI, size in bytes) of every visible file under `path` ending with `suffix`, sorted.

    Markers such as `_SUCCESS` and checksums are left out, as Spark leaves them out.
    """
    fs, hadoop_path = _filesystem(spark, path)
    if not fs.exists(hadoop_path):
        return []
    found = []
    files = fs.listFiles(hadoop_path, True)
    while files.hasNext():
        status = files.next()
        name = status.getPath().getName()
        if _is_visible(name) and name.endswith(suffix):
            found.append((str(status.getPath().toString()), int(status.getLen())))
    return sorted(found)


def qualify(spark: SparkSession, path: str) -> str:
    """`path` as a full URI (`file:/abs/dir`, `s3://bucket/key`): some APIs, such as Delta's
    table builder, refuse a relative path."""
    fs, hadoop_path = _filesystem(spark, path)
    return str(fs.makeQualified(hadoop_path).toString())


def join_path(root: str, *parts: str) -> str:
    """Join URI or local path segments with '/', as Hadoop paths expect."""
    return "/".join([root.rstrip("/"), *parts])
