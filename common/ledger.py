"""A ledger of loaded files: the Delta table an incremental job keeps in its root so that each
input file is loaded once, a re-delivered file replaces what it loaded before, and a run killed
at any point is finished by the next.

A file is known by its canonical URI (`s3a://` and `s3://` name one object), its size and its
modification time. Its row is written twice per load: `loading` (with every date its rows are
or were on) before any table changes, `loaded` once every table reflects it. A file whose row
is `loaded` with the same size and time is skipped; any other is (re)loaded, and its `loading`
row tells the writer which partitions may hold its old rows.

The settings that shape a root's tables are stored as properties of the ledger table, fixed by
the commit that creates it: a later run with other values is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from common import delta
from common.fs import FileStatus, canonical_uri, qualify

LOADING, LOADED = "loading", "loaded"
# Prefix of the table properties holding a root's settings.
SETTING_PREFIX = "spark_jobs.setting."
# The version of `events` a writer that loads no file (erase_users) last recomputed every
# aggregate at; a loading run records its version in its files' rows (`Entry.events_version`).
AGGREGATES_VERSION = "spark_jobs.aggregates_events_version"


@dataclass(frozen=True)
class Entry:
    """A file's row in the ledger."""

    file: str
    size: int
    modified_ms: int
    status: str
    event_dates: tuple[date, ...]
    events_version: int | None


@dataclass(frozen=True)
class InputFile:
    """A listed input file: where to read it, and its ledger key."""

    status: FileStatus

    @property
    def file(self) -> str:
        return canonical_uri(self.status.uri)

    @property
    def path(self) -> str:
        return self.status.path


@dataclass(frozen=True)
class Plan:
    """What a run does with its listed files."""

    new: tuple[InputFile, ...] = ()
    changed: tuple[InputFile, ...] = ()  # a loaded file whose size or time changed: re-delivered
    reloaded: tuple[InputFile, ...] = ()  # unchanged, loaded again because --reload asked
    unfinished: tuple[InputFile, ...] = ()  # a run started loading it and did not finish
    skipped: tuple[InputFile, ...] = ()
    previous: Mapping[str, Entry] = field(default_factory=dict)

    @property
    def load(self) -> tuple[InputFile, ...]:
        return tuple(sorted((*self.new, *self.changed, *self.reloaded, *self.unfinished), key=lambda f: f.file))

    def as_report(self) -> dict[str, int]:
        return {
            "listed": len(self.load) + len(self.skipped),
            "new": len(self.new),
            "changed": len(self.changed),
            "reloaded": len(self.reloaded),
            "unfinished": len(self.unfinished),
            "skipped": len(self.skipped),
        }


def plan(listed: Sequence[FileStatus], ledger: Mapping[str, Entry], reload: bool = False) -> Plan:
    """Sort the listed files by what the ledger says of them. The same object listed twice
    (two --input spellings) is one file."""
    files = {f.file: f for f in (InputFile(status) for status in listed)}
    groups: dict[str, list[InputFile]] = {"new": [], "changed": [], "reloaded": [], "unfinished": [], "skipped": []}
    for key in sorted(files):
        found, entry = files[key], ledger.get(key)
        if entry is None:
            groups["new"].append(found)
        elif entry.status != LOADED:
            groups["unfinished"].append(found)
        elif (entry.size, entry.modified_ms) != (found.status.size, found.status.modified_ms):
            groups["changed"].append(found)
        elif reload:
            groups["reloaded"].append(found)
        else:
            groups["skipped"].append(found)
    previous = {f.file: ledger[f.file] for f in files.values() if f.file in ledger}
    return Plan(**{name: tuple(group) for name, group in groups.items()}, previous=previous)


def read(spark: SparkSession, path: str) -> dict[str, Entry]:
    """The ledger's rows by file (empty when there is no ledger yet)."""
    if not delta.table_exists(spark, path):
        return {}
    rows = (
        spark.read.format("delta")
        .load(path)
        .select(
            "file",
            "size",
            (F.unix_millis("modification_time")).alias("modified_ms"),
            "status",
            "event_dates",
            "events_version",
        )
        .collect()
    )
    return {
        row["file"]: Entry(
            row["file"],
            int(row["size"]),
            int(row["modified_ms"]),
            row["status"],
            tuple(row["event_dates"] or ()),
            row["events_version"],
        )
        for row in rows
    }


def recorded_settings(spark: SparkSession, path: str) -> dict[str, str]:
    """The settings stored with the ledger (none when there is no ledger)."""
    if not delta.table_exists(spark, path):
        return {}
    properties = delta.table_properties(spark, path)
    return {key[len(SETTING_PREFIX) :]: value for key, value in properties.items() if key.startswith(SETTING_PREFIX)}


def aggregates_version(spark: SparkSession, path: str) -> int | None:
    """The `events` version erase_users last recomputed the aggregates at (`AGGREGATES_VERSION`),
    None when none did (or there is no ledger)."""
    if not delta.table_exists(spark, path):
        return None
    value = delta.table_properties(spark, path).get(AGGREGATES_VERSION)
    return int(value) if value is not None else None


def record_aggregates_version(spark: SparkSession, path: str, events_version: int) -> None:
    """Record with the ledger at `path` that every aggregate now reflects `events` at
    `events_version`: recorded only once they are all published, so a run that dies before
    leaves the next loading run to rebuild them."""
    location = qualify(spark, path)
    with delta.concurrent_writes(path):
        spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ('{AGGREGATES_VERSION}' = '{events_version}')")


def settings_problems(recorded: Mapping[str, str], asked: Mapping[str, str]) -> list[str]:
    """The settings a run asks for that differ from those recorded (a setting the ledger does
    not record, e.g. one added by a later release, is taken as asked)."""
    return [
        f"--{name.replace('_', '-')} {recorded[name]} (this run: {value})"
        for name, value in asked.items()
        if name in recorded and recorded[name] != value
    ]


def ensure(
    spark: SparkSession, path: str, schema: StructType, settings: Mapping[str, str], properties: Mapping[str, str]
) -> delta.TableState:
    """The ledger, created with its `settings` (as properties) if absent."""
    recorded = {f"{SETTING_PREFIX}{name}": value for name, value in settings.items()}
    return delta.ensure_table(spark, path, schema, properties={**properties, **recorded})


def timestamp(ms: int) -> datetime:
    """Milliseconds since the epoch as a UTC datetime (aware, so Spark stores the instant)."""
    return datetime.fromtimestamp(ms / 1000, UTC)
