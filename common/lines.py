"""Readers of line-oriented inputs (JSON lines, CSV with a header): one row per input line,
with the raw line and its file kept for the quarantine.

Every reader takes an explicit schema: column names and types are a contract, never inferred.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from common.errors import InputError
from common.fs import first_line, input_files, require_input

# Columns the readers add in front of the parsed fields.
RAW_RECORD = "raw_record"
SOURCE_FILE = "source_file"
CORRUPT_RECORD = "_corrupt_record"
# Spark reads a UTF-8 byte order mark as part of the first field of a file.
BYTE_ORDER_MARK = "\ufeff"


# A JSON number token, as RFC 8259 writes it.
JSON_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"


def quote_json_numbers(text: Column, fields: Sequence[str]) -> Column:
    """`text` with the JSON number values of `fields` turned into JSON strings of the same digits.

    Spark's JSON reader turns a number read into a string field into a double first
    (12.3400000000000001 arrives as "12.34", 1234567890123456.78 as "1.2345678901234568E15").
    Quoting the number keeps its exact text for the field's parser to judge. A number that is
    not a valid JSON number stays as it is, so the line stays as broken as it was.
    One pattern per field, each starting with the quoted name: a pattern that starts with
    literal text is searched for with Boyer-Moore, much faster than an alternation of names.
    """
    for name in fields:
        key = json.dumps(name)
        replacement = key.replace("\\", "\\\\").replace("$", "\\$") + '$1"$2"'
        text = F.regexp_replace(text, rf"{re.escape(key)}(\s*:\s*)({JSON_NUMBER})(?=\s*[,}}])", replacement)
    return text


def read_json_lines(
    spark: SparkSession, path: str | Sequence[str], schema: StructType, exact_numbers: Sequence[str] = ()
) -> DataFrame:
    """Parse JSON lines against `schema`, one row per input line, keeping what went wrong.

    Returns `raw_record` (the line), `source_file`, the schema's fields and `_corrupt_record`
    (set when the line is not JSON). Reading lines as text, not with `spark.read.json`,
    keeps one row per line: a JSON array on a line is one bad record, not several rows.
    `exact_numbers` names string fields whose JSON numbers must keep their exact digits
    (money): see `quote_json_numbers`. `raw_record` is always the line as read. `path` may be a
    list of files already listed (e.g. those of a batch not loaded yet).
    """
    if isinstance(path, str):
        require_input(spark, path)
    else:
        path = list(path)
    parse_schema = StructType([*schema.fields, StructField(CORRUPT_RECORD, StringType())])
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
    lines = spark.read.option("recursiveFileLookup", "true").text(path)
    return lines.select(
        F.col("value").alias(RAW_RECORD),
        F.col("_metadata.file_path").alias(SOURCE_FILE),
        F.from_json(quote_json_numbers(F.col("value"), exact_numbers), parse_schema, options).alias("_parsed"),
    ).select(RAW_RECORD, SOURCE_FILE, "_parsed.*")


def read_lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """The lines of already listed files as `raw_record` and `source_file`, for a format's
    transform to take apart (`.gz` files decompressed)."""
    lines = spark.read.option("recursiveFileLookup", "true").text(list(paths))
    return lines.select(F.col("value").alias(RAW_RECORD), F.col("_metadata.file_path").alias(SOURCE_FILE))


def csv_header(line: str) -> list[str]:
    """Column names of a CSV header line, unquoted and without surrounding white space."""
    return [name.strip() for name in next(csv.reader([line.lstrip(BYTE_ORDER_MARK)]), [])]


def require_csv_headers(spark: SparkSession, files: list[str], expected: list[str]) -> None:
    """Fail with one line unless every non-empty file starts with the contract's header.

    A file without a header, or with columns renamed, reordered, added or missing, would
    otherwise be read positionally into the wrong fields. One small read per file (the driver
    opens each file once), so a folder of many tiny files costs one request per file on S3.
    """
    for file in files:
        line = first_line(spark, file)
        if line is None:
            continue
        names = csv_header(line)
        if names != expected:
            raise InputError(f"{file}: header {','.join(names)!r} does not match the contract {','.join(expected)!r}")


def read_csv_lines(spark: SparkSession, path: str, schema: StructType) -> DataFrame:
    """Parse CSV files with a header against `schema`, one row per data line, keeping what went wrong.

    `schema` is the header, in order, with string fields (the row rules type the values).
    Returns `raw_record` (the line), `source_file`, the schema's fields and `_corrupt_record`
    (set when the line has too few or too many fields, or an unbalanced quote). Every file
    must start with the header (checked first, see `require_csv_headers`); header lines are
    not rows. Reading lines as text, not with `spark.read.csv`, keeps the raw line for the
    quarantine; the price is that a quoted field cannot span lines (the contract forbids it).
    """
    expected = [field.name for field in schema.fields]
    require_csv_headers(spark, input_files(spark, path), expected)
    parse_schema = StructType([*schema.fields, StructField(CORRUPT_RECORD, StringType())])
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
    ddl = ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in parse_schema.fields)
    lines = spark.read.option("recursiveFileLookup", "true").text(path)
    parsed = lines.select(
        F.col("value").alias(RAW_RECORD),
        F.col("_metadata.file_path").alias(SOURCE_FILE),
        F.from_csv("value", ddl, options).alias("_parsed"),
    ).select(RAW_RECORD, SOURCE_FILE, "_parsed.*")
    first = F.regexp_replace(F.col(expected[0]), f"^{BYTE_ORDER_MARK}", "")
    values = [first, *(F.col(name) for name in expected[1:])]
    is_header = F.col(CORRUPT_RECORD).isNull()
    for value, name in zip(values, expected, strict=True):
        is_header = is_header & (F.btrim(value, F.lit(" \t\r\n")) == F.lit(name))
    return parsed.filter(~F.coalesce(is_header, F.lit(False)))
