"""Erased stays erased: the hashed ids a root keeps in `erased_users` (written by erase_users),
and the filter every later load of the root applies to its input lines before classifying
them, so a reload, a backfill or a late file never brings an erased user back.

A line is an erased user's when its raw text parses as JSON and one of its field values
(trimmed, as the contracts trim ids) hashes to an erased id, or, when it does not parse, one of
its tokens (the runs between whitespace and JSON punctuation) does. Such lines are dropped
before the row accounting and counted apart: not quarantined, since that would keep their text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from common import delta
from common.fs import join_path
from common.lines import RAW_RECORD
from schemas.erasure import ERASED_USERS

ERASED_TABLE = "erased_users"
ERASED_PROPERTIES = delta.layout_properties(manifest=False)
# A field value in compact JSON (as `get_json_object` re-serialises a line): a string literal or
# a bare scalar right after a key's colon.
JSON_FIELD_VALUE = r':("(?:[^"\\]|\\.)*"|[^,{}\[\]"]+)'
# A token of a line that does not parse: a run between whitespace, JSON punctuation and brackets
# (so `u1` is one in `"user_id":"u1` cut short, or in `(u1)`, not in `u10`).
TOKEN_SEPARATORS = r'[\s{}\[\]():;,"\'<>=]+'
# How a line holds an id (erase_users counts them apart).
JSON_VALUE, TOKEN = "json_value", "token"


def user_hash(user_id: str) -> str:
    """How a root records an erased id: SHA-256 of its UTF-8 text, hex (Spark's `sha2(_, 256)`)."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def unquoted(value: Column) -> Column:
    """A JSON scalar's text: a string literal without its quotes and escapes of quote, backslash
    and slash, trimmed as the contracts trim ids; a bare scalar as it is."""
    text = F.regexp_replace(F.regexp_replace(value, r'^"|"$', ""), r'\\(["\\/])', "$1")
    return F.trim(text)


def mention(hashes: Sequence[str]) -> Column:
    """How a line (`raw_record`) holds an id whose hash is in `hashes`: JSON_VALUE when it parses
    as JSON (Spark's parser: its first JSON value) and a field value, at any depth, is the id;
    TOKEN when it does not parse and one of its tokens is; else null."""
    if not hashes:
        return F.lit(None).cast("string")
    known = F.array(*(F.lit(h) for h in sorted(set(hashes))))

    def is_known(text: Column) -> Column:
        return F.array_contains(known, F.sha2(text, 256))

    parsed = F.get_json_object(RAW_RECORD, "$")
    values = F.regexp_extract_all(parsed, F.lit(JSON_FIELD_VALUE), 1)
    tokens = F.split(F.col(RAW_RECORD), TOKEN_SEPARATORS)
    as_value = F.exists(values, lambda v: is_known(unquoted(v)))
    as_token = F.exists(tokens, is_known)
    return F.when(parsed.isNotNull(), F.when(as_value, F.lit(JSON_VALUE))).otherwise(F.when(as_token, F.lit(TOKEN)))


def erased_line(hashes: Sequence[str]) -> Column:
    """True for a line of an erased user (see `mention`), never null."""
    return mention(hashes).isNotNull()


def without_erased(lines: DataFrame, hashes: Sequence[str]) -> DataFrame:
    """The lines of no erased user."""
    return lines if not hashes else lines.filter(~erased_line(hashes))


def erased_hashes(spark: SparkSession, root: str) -> list[str]:
    """The hashed ids erased from `root` (none when it has no record)."""
    path = join_path(root, ERASED_TABLE)
    if not delta.table_exists(spark, path):
        return []
    return [row[0] for row in spark.read.format("delta").load(path).select("user_hash").distinct().collect()]


def drop_erased(lines: DataFrame, hashes: Sequence[str]) -> tuple[DataFrame, dict[str, Any]]:
    """The lines of no erased user, and how many were dropped (a count of the input, taken
    only when the root has erased users: a root without any pays nothing)."""
    if not hashes:
        return lines, {"erased_users": 0, "rows_dropped": 0}
    dropped = lines.filter(erased_line(hashes)).count()
    return without_erased(lines, hashes), {"erased_users": len(set(hashes)), "rows_dropped": dropped}


def record_erased(spark: SparkSession, root: str, user_ids: Sequence[str], run_id: str) -> str:
    """Add the ids' hashes to the root's record (one row per hash: erasing again changes nothing)."""
    path = join_path(root, ERASED_TABLE)
    at = datetime.now(UTC).replace(microsecond=0)
    rows = spark.createDataFrame([(user_hash(u), at, run_id) for u in sorted(set(user_ids))], ERASED_USERS)
    state = delta.ensure_table(spark, path, ERASED_USERS, properties=ERASED_PROPERTIES)
    delta.upsert(spark, path, rows, ["user_hash"], "false", expected=state)
    return path
