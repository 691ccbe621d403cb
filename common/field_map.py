"""Reading JSON lines whose fields go by other names: a map from the contract's field names to
where each line holds them (a top-level key, or a dotted path into nested objects).

Adopters' logs rarely call their fields what the contract does (`@timestamp`, `user.id`,
`http.response.status_code`). The map renames them on read, so the contract's rules and
quarantine reasons judge them as they judge lines already under the contract's names.

Each line is parsed once, reading every top-level key the map names as text; a dotted path
then reads the rest of its way inside that key's (small) JSON text. Reading the intermediate
objects as structs instead would make a line whose `user` is a string rather than an object
unparseable as a whole (`malformed_json`), where the contract says `missing_user_id`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from common.lines import CORRUPT_RECORD, RAW_RECORD, SOURCE_FILE

# Characters a path segment may not hold: the map's own separators, and the quote of the
# JSON path a nested segment is read with.
FORBIDDEN = set(",='\\")


def parse_field_map(text: str, fields: Sequence[str]) -> dict[str, str]:
    """`field=path,...` as {contract field: path}, every one of `fields` present (an unmapped
    field keeps its own name); argparse's one-line error for anything else."""
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        name, sep, path = (piece.strip() for piece in item.partition("="))
        if not sep or not name or not path:
            raise argparse.ArgumentTypeError(f"{item!r} is not field=path")
        if name not in fields:
            raise argparse.ArgumentTypeError(f"{name!r} is not a field of the log contract ({', '.join(fields)})")
        if name in mapping:
            raise argparse.ArgumentTypeError(f"{name!r} is mapped twice")
        segments = path.split(".")
        if any(not segment or FORBIDDEN & set(segment) for segment in segments):
            raise argparse.ArgumentTypeError(
                f"{path!r} is not a dotted path of keys (no empty key, no {' '.join(sorted(FORBIDDEN))})"
            )
        if segments[0] == CORRUPT_RECORD:
            raise argparse.ArgumentTypeError(f"{path!r}: {CORRUPT_RECORD} is the reader's own column")
        mapping[name] = path
    return {name: mapping.get(name, name) for name in fields}


def canonical(mapping: Mapping[str, str]) -> str:
    """The map as one string, in the contract's field order: what a root records."""
    return ",".join(f"{name}={path}" for name, path in mapping.items())


def top_level_keys(mapping: Mapping[str, str]) -> list[str]:
    """The top-level keys the map reads, each once, in the map's order."""
    return list(dict.fromkeys(path.split(".")[0] for path in mapping.values()))


def path_value(parsed: Column, path: str) -> Column:
    """The text at `path` of a line parsed with `top_level_keys` as strings: null when a key
    on the way is absent, or is not an object; an object or array as its JSON text."""
    first, *rest = path.split(".")
    value = parsed.getField(first)
    if not rest:
        return value
    return F.get_json_object(value, "$" + "".join(f"['{segment}']" for segment in rest))


def read_json_fields(spark: SparkSession, paths: Sequence[str], mapping: Mapping[str, str]) -> DataFrame:
    """Parse JSON lines once and pick each contract field from its mapped path, as text.

    Returns `raw_record`, `source_file`, the map's fields (under the contract's names) and
    `_corrupt_record` (set when the line is not JSON), as `read_json_lines` does.
    """
    keys = top_level_keys(mapping)
    schema = StructType([*(StructField(key, StringType()) for key in keys), StructField(CORRUPT_RECORD, StringType())])
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
    lines = spark.read.option("recursiveFileLookup", "true").text(list(paths))
    parsed = lines.select(
        F.col("value").alias(RAW_RECORD),
        F.col("_metadata.file_path").alias(SOURCE_FILE),
        F.from_json("value", schema, options).alias("_parsed"),
    )
    return parsed.select(
        RAW_RECORD,
        SOURCE_FILE,
        *(path_value(F.col("_parsed"), path).alias(name) for name, path in mapping.items()),
        F.col("_parsed").getField(CORRUPT_RECORD).alias(CORRUPT_RECORD),
    )


def absent_fields(lines: DataFrame, mapping: Mapping[str, str], probe_lines: int) -> list[str]:
    """The mapped fields that none of the first `probe_lines` lines holding a JSON object
    has (absent or null): a map naming a field the logs lack. Empty when no line of the
    probe is a JSON object (then the lines prove nothing, and the rules judge them)."""
    objects = lines.limit(probe_lines).filter(F.col(CORRUPT_RECORD).isNull() & F.ltrim(RAW_RECORD).startswith("{"))
    counts = objects.agg(
        F.count("*").alias("_objects"), *(F.count(F.col(name)).alias(name) for name in mapping)
    ).first()
    if not counts or not counts["_objects"]:
        return []
    return [f"{name}={path}" for name, path in mapping.items() if counts[name] == 0]
