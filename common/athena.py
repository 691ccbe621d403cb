"""Athena DDL for a run's output tables, so Athena, QuickSight or any Athena client can query
them without a crawler.

Delta tables are registered the way Athena reads Delta natively: `LOCATION` and
`TBLPROPERTIES ('table_type' = 'DELTA')`, no columns (Athena takes them from the Delta log, so
they cannot drift from the table). Parquet tables get their columns and types from `schemas/`
(the contract the job wrote them with) and their partition columns, followed by
`MSCK REPAIR TABLE` to load the partitions found under the location.

Each table is dropped and created again: the tables are EXTERNAL (dropping one deletes no
data), and a rerun that moved a table or changed its columns must not leave the old definition
behind, as `CREATE ... IF NOT EXISTS` would. Athena runs one statement per query, so the file
holds one statement per `;`-terminated paragraph; the state machines run them in order.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from common.fs import join_path, qualify, write_text

DDL_FILE = "athena_ddl.sql"
# Athena (Glue) names: lowercase letters, digits and underscores.
NAME = re.compile(r"[a-z0-9_]{1,255}")


def database_name(text: str) -> str:
    """argparse type for `--athena-database`: a Glue database name."""
    if not NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an Athena database name (lowercase letters, digits, _)")
    return text


def add_database_argument(parser: argparse.ArgumentParser, job: str) -> None:
    """`--athena-database`, defaulting to the job's name (one database per job keeps equal
    table names such as `quarantine` apart)."""
    parser.add_argument(
        "--athena-database",
        type=database_name,
        default=job,
        help=f"database the Athena DDL ({DDL_FILE}, beside the run report) creates the tables in",
    )


def athena_location(uri: str) -> str:
    """The location as Athena wants it: `s3://` (S3A's `s3a://` is the same object); a local
    path stays a `file:` URI, which Athena cannot read, but the file is still what would run."""
    return "s3://" + uri[len("s3a://") :] if uri.startswith("s3a://") else uri


def _quote(name: str) -> str:
    return f"`{name}`"


def _literal(text: str) -> str:
    """A string literal; Hive DDL (what Athena runs) escapes with backslashes, Trino with
    doubled quotes, so a location holding either is refused rather than escaped one way."""
    if "'" in text or "\\" in text or ";" in text:
        raise ValueError(f"location {text!r} holds a quote, backslash or ';': not usable in Athena DDL")
    return f"'{text}'"


def table_statements(
    database: str,
    table: str,
    location: str,
    fmt: str,
    schema: StructType | None = None,
    partitions: Sequence[str] = (),
) -> list[str]:
    """DROP + CREATE (+ MSCK REPAIR for partitioned Parquet) for one table."""
    if not NAME.fullmatch(table):
        raise ValueError(f"table name {table!r} is not an Athena name")
    qualified = f"{_quote(database)}.{_quote(table)}"
    statements = [f"DROP TABLE IF EXISTS {qualified}"]
    if fmt == "delta":
        statements.append(
            f"CREATE EXTERNAL TABLE {qualified}\nLOCATION {_literal(location)}\nTBLPROPERTIES ('table_type' = 'DELTA')"
        )
        return statements
    if fmt != "parquet":
        raise ValueError(f"no Athena DDL for format {fmt!r}")
    if schema is None:
        raise ValueError(f"Parquet table {table!r} needs its schema for Athena")
    by_name = {f.name: f for f in schema.fields}
    unknown = [p for p in partitions if p not in by_name]
    if unknown:
        raise ValueError(f"partition columns not in the schema of {table!r}: {unknown}")
    columns = ",\n".join(
        f"  {_quote(f.name)} {f.dataType.simpleString()}" for f in schema.fields if f.name not in partitions
    )
    create = f"CREATE EXTERNAL TABLE {qualified} (\n{columns}\n)"
    if partitions:
        partition_columns = ", ".join(f"{_quote(p)} {by_name[p].dataType.simpleString()}" for p in partitions)
        create += f"\nPARTITIONED BY ({partition_columns})"
    create += f"\nSTORED AS PARQUET\nLOCATION {_literal(location)}"
    statements.append(create)
    if partitions:
        statements.append(f"MSCK REPAIR TABLE {qualified}")
    return statements


def ddl(
    database: str,
    tables: Mapping[str, Mapping[str, Any]],
    schemas: Mapping[str, StructType],
    partitions: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The DDL text for `tables` (the run report's `tables`: name -> path, format)."""
    statements = [f"CREATE DATABASE IF NOT EXISTS {_quote(database)}"]
    for name in sorted(tables):
        table = tables[name]
        statements += table_statements(
            database,
            name,
            athena_location(table["path"]),
            table["format"],
            schemas.get(name),
            (partitions or {}).get(name, ()),
        )
    return "".join(statement + ";\n\n" for statement in statements)


def split_statements(text: str) -> list[str]:
    """The statements of a DDL file, as the state machine splits them (no ';' in literals)."""
    return [s.strip() for s in text.split(";") if s.strip()]


def write_ddl(
    spark: SparkSession,
    output_root: str,
    database: str,
    tables: Mapping[str, Mapping[str, Any]],
    schemas: Mapping[str, StructType],
    partitions: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Write `athena_ddl.sql` beside the run report; returns what the report records of it."""
    located = {name: {**table, "path": qualify(spark, table["path"])} for name, table in tables.items()}
    path = join_path(output_root, DDL_FILE)
    write_text(spark, path, ddl(database, located, schemas, partitions))
    return {"ddl": path, "database": database, "tables": sorted(tables)}
