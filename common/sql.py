"""SQL text shared by every dialect the jobs write (Spark SQL predicates, Redshift loads)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def string_literal(value: Any) -> str:
    """`value` as a single-quoted SQL string literal ('' escapes a quote in every dialect used)."""
    return "'" + str(value).replace("'", "''") + "'"


def in_predicate(identifier: str, values: Iterable[Any]) -> str:
    """`identifier IN ('a', 'b')`; `identifier` is already quoted as its dialect wants."""
    literals = [string_literal(v) for v in values]
    if not literals:
        raise ValueError("an IN predicate needs at least one value")
    return f"{identifier} IN ({', '.join(literals)})"
