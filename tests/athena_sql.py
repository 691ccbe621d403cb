"""Reading the Athena DDL back, offline: each statement parsed by sqlglot's Athena dialect."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from common.athena import split_statements

MSCK = re.compile(r"MSCK REPAIR TABLE `(?P<db>[a-z0-9_]+)`\.`(?P<table>[a-z0-9_]+)`")


@dataclass
class Table:
    """What a CREATE EXTERNAL TABLE says."""

    database: str
    name: str
    location: str
    columns: list[tuple[str, str]] = field(default_factory=list)
    partitions: list[tuple[str, str]] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    stored_as: str | None = None
    repaired: bool = False


def _type(kind: exp.DataType) -> str:
    """A column type as Spark's simpleString writes it: `decimal(18,2)`, `map<string,double>`."""
    return re.sub(r"\s+", "", kind.sql(dialect="hive")).lower()


def _columns(defs: list[exp.Expression]) -> list[tuple[str, str]]:
    return [(d.name, _type(d.args["kind"])) for d in defs if isinstance(d, exp.ColumnDef)]


def parse_ddl(text: str) -> tuple[list[str], dict[str, Table]]:
    """(databases created, tables by name); any statement that does not parse raises."""
    databases: list[str] = []
    tables: dict[str, Table] = {}
    dropped: set[str] = set()
    for statement in split_statements(text):
        repair = MSCK.fullmatch(statement)
        if repair:
            tables[repair["table"]].repaired = True
            continue
        tree = sqlglot.parse_one(statement, read="athena", error_level=sqlglot.ErrorLevel.RAISE)
        if isinstance(tree, exp.Drop):
            dropped.add(tree.this.name if isinstance(tree.this, exp.Table) else tree.find(exp.Table).name)
            continue
        assert isinstance(tree, exp.Create), statement
        if tree.args["kind"] == "DATABASE":
            databases.append(tree.this.name)
            continue
        target = tree.this
        schema = target if isinstance(target, exp.Schema) else None
        table = schema.this if schema else target
        properties = tree.args["properties"].expressions
        location = next(p for p in properties if isinstance(p, exp.LocationProperty)).this.this
        parsed = Table(table.db, table.name, location, columns=_columns(schema.expressions) if schema else [])
        assert any(isinstance(p, exp.ExternalProperty) for p in properties), statement
        for prop in properties:
            if type(prop) is exp.Property:  # key = value, as TBLPROPERTIES holds them
                parsed.properties[prop.name] = prop.args["value"].this
            elif isinstance(prop, exp.PartitionedByProperty):
                parsed.partitions = _columns(prop.this.expressions)
            elif isinstance(prop, exp.FileFormatProperty):
                parsed.stored_as = prop.this.name.upper()
        assert parsed.name in dropped, f"{parsed.name} created without being dropped first"
        tables[parsed.name] = parsed
    return databases, tables
