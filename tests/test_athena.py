"""The Athena DDL the jobs write: it parses (sqlglot's Athena dialect, offline), Parquet tables
carry their contract's columns, types and partitions, Delta tables their location and type."""

from __future__ import annotations

import argparse

import pytest
import sqlglot

from common.athena import athena_location, database_name, ddl, split_statements
from schemas.catalog import OUTPUT_TABLES
from tests.athena_sql import parse_ddl

# Every output table of every job, by its contract (the jobs publish rows conformed to these).
ALL_SCHEMAS = {job: tables for job, tables in OUTPUT_TABLES.items() if tables}


@pytest.mark.parametrize("job", sorted(ALL_SCHEMAS))
def test_parquet_tables_have_their_contract_columns(job: str) -> None:
    schemas = ALL_SCHEMAS[job]
    tables = {name: {"path": f"s3://bucket/out/{job}/{name}", "format": "parquet"} for name in schemas}
    databases, parsed = parse_ddl(ddl(job, tables, schemas))
    assert databases == [job]
    assert sorted(parsed) == sorted(schemas)
    for name, schema in schemas.items():
        table = parsed[name]
        assert (table.database, table.location, table.stored_as) == (job, tables[name]["path"], "PARQUET")
        assert table.columns == [(f.name, f.dataType.simpleString()) for f in schema.fields]
        assert table.partitions == [] and not table.repaired


def test_partitioned_parquet_names_its_partitions_and_repairs_them() -> None:
    schemas = ALL_SCHEMAS["transaction_etl"]
    tables = {"transactions": {"path": "s3://b/w/transactions", "format": "parquet"}}
    _, parsed = parse_ddl(ddl("etl", tables, schemas, {"transactions": ["transaction_date"]}))
    table = parsed["transactions"]
    fields = [(f.name, f.dataType.simpleString()) for f in schemas["transactions"].fields]
    assert table.partitions == [("transaction_date", "date")]
    assert table.columns == [f for f in fields if f[0] != "transaction_date"]
    assert table.repaired


def test_delta_tables_are_located_and_typed_not_described() -> None:
    tables = {"gold": {"path": "s3a://bucket/warehouse/daily_user_totals", "format": "delta"}}
    text = ddl("analytics", tables, {})
    _, parsed = parse_ddl(text)
    assert parsed["gold"].location == "s3://bucket/warehouse/daily_user_totals"
    assert parsed["gold"].properties == {"table_type": "DELTA"}
    assert parsed["gold"].columns == [] and parsed["gold"].stored_as is None
    assert split_statements(text)[:2] == [
        "CREATE DATABASE IF NOT EXISTS `analytics`",
        "DROP TABLE IF EXISTS `analytics`.`gold`",
    ]


def test_locations_are_athena_uris() -> None:
    assert athena_location("s3a://b/k/t") == "s3://b/k/t"
    assert athena_location("s3://b/k/t") == "s3://b/k/t"
    assert athena_location("file:/tmp/t") == "file:/tmp/t"


@pytest.mark.parametrize("path", ["s3://b/it's", "s3://b/a;b", "s3://b/a\\b"])
def test_a_location_that_cannot_be_a_literal_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not usable in Athena DDL"):
        ddl("db", {"t": {"path": path, "format": "delta"}}, {})


def test_the_parser_refuses_what_athena_would() -> None:
    for broken in ("(`a` string STORED AS PARQUET", "(`a` map<string,) STORED AS PARQUET"):
        with pytest.raises(sqlglot.errors.ParseError):
            parse_ddl(f"DROP TABLE IF EXISTS `db`.`t`; CREATE EXTERNAL TABLE `db`.`t` {broken} LOCATION 's3://b/t';")


@pytest.mark.parametrize("name", ["Analytics", "my-db", "", "a b"])
def test_database_names_are_checked(name: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        database_name(name)


def test_table_names_and_formats_are_checked() -> None:
    with pytest.raises(ValueError, match="not an Athena name"):
        ddl("db", {"Bad-Name": {"path": "s3://b/t", "format": "delta"}}, {})
    with pytest.raises(ValueError, match="no Athena DDL for format"):
        ddl("db", {"t": {"path": "s3://b/t", "format": "csv"}}, {})
    with pytest.raises(ValueError, match="needs its schema"):
        ddl("db", {"t": {"path": "s3://b/t", "format": "parquet"}}, {})
