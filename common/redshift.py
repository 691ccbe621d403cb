"""The SQL and COPY manifests that load exported Parquet files into Amazon Redshift.

Everything here is text generation: no connection, no credentials. The IAM role is a psql
variable (`:'iam_role'`) the user passes when running the file, never written into it:

    psql -v iam_role='arn:aws:iam::123456789012:role/RedshiftCopy' -f load.sql
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

# Wide enough for ids and labels; a longer string fails the COPY instead of being cut.
VARCHAR_LENGTH = 256
IAM_ROLE_PARAMETER = ":'iam_role'"


def redshift_type(data_type: DataType) -> str:
    """The Redshift column type that Parquet's physical type for `data_type` loads into."""
    if isinstance(data_type, DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    simple = {
        StringType: f"VARCHAR({VARCHAR_LENGTH})",
        LongType: "BIGINT",
        IntegerType: "INTEGER",
        DateType: "DATE",
        TimestampType: "TIMESTAMP",
        DoubleType: "DOUBLE PRECISION",
        BooleanType: "BOOLEAN",
    }
    for spark_type, sql in simple.items():
        if isinstance(data_type, spark_type):
            return sql
    raise ValueError(f"no Redshift type for {data_type.simpleString()}")


def create_table_sql(
    table: str,
    schema: StructType,
    not_null: Sequence[str] = (),
    distkey: str | None = None,
    sortkey: Sequence[str] = (),
) -> str:
    """CREATE TABLE IF NOT EXISTS with the export's columns, in the export's order (COPY from
    Parquet maps columns by position, so order is part of the contract)."""
    columns = ",\n".join(
        f"    {f.name} {redshift_type(f.dataType)}{' NOT NULL' if f.name in not_null else ''}" for f in schema.fields
    )
    options = ""
    if distkey:
        options += f"\nDISTKEY ({distkey})"
    if sortkey:
        options += f"\nSORTKEY ({', '.join(sortkey)})"
    return f"CREATE TABLE IF NOT EXISTS {table} (\n{columns}\n){options};\n"


def copy_manifest(files: Sequence[tuple[str, int]]) -> str:
    """A COPY manifest listing exactly the export's files. Parquet entries need their size
    (`meta.content_length`); `mandatory` makes a missing file fail the load."""
    entries = [{"url": url, "mandatory": True, "meta": {"content_length": size}} for url, size in files]
    return json.dumps({"entries": entries}, indent=2) + "\n"


def idempotent_load_sql(
    table: str,
    manifest_uri: str,
    *,
    replace_predicate: str | None = None,
    replace_keys: Sequence[str] = (),
) -> str:
    """Load a manifest's Parquet files into `table` so that running it twice equals once.

    The files go to a temporary staging table first; then, in one transaction, the rows they
    replace are deleted (`replace_predicate` on the target, e.g. the exported dates, or rows
    sharing `replace_keys` with the staging table) and the staged rows inserted. Readers see
    the old or the new rows, never both.
    """
    if (replace_predicate is None) == (not replace_keys):
        raise ValueError("give exactly one of replace_predicate or replace_keys")
    stage = f"{table}_stage"
    if replace_predicate is not None:
        delete = f"DELETE FROM {table} WHERE {replace_predicate};"
    else:
        matches = " AND ".join(f"{table}.{k} = {stage}.{k}" for k in replace_keys)
        delete = f"DELETE FROM {table} USING {stage} WHERE {matches};"
    return (
        "BEGIN;\n"
        f"CREATE TEMP TABLE {stage} (LIKE {table});\n"
        f"COPY {stage}\nFROM '{manifest_uri}'\nIAM_ROLE {IAM_ROLE_PARAMETER}\nFORMAT AS PARQUET\nMANIFEST;\n"
        f"{delete}\n"
        f"INSERT INTO {table} SELECT * FROM {stage};\n"
        f"DROP TABLE {stage};\n"
        "COMMIT;\n"
    )


def delete_rows_sql(deletes: Sequence[tuple[str, str]]) -> str:
    """DELETE statements, (table, predicate) each, in one transaction as the loads run theirs:
    readers see every row or none of them gone, and running it twice equals once."""
    statements = "".join(f"DELETE FROM {table} WHERE {predicate};\n" for table, predicate in deletes)
    return f"BEGIN;\n{statements}COMMIT;\n"
