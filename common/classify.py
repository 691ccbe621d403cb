"""Row-level validation: a data set's field contract, and the one classifier that applies it.

A `Contract` says, per raw field, how it is parsed, what the typed column is called and which
rules judge it, plus the rules on the whole line. `classify_lines` parses each field once,
gives every row its verdict in one Spark pass (`reason`: the first rule the row breaks, null
when valid), and keeps the typed columns under their contract names. Every row is then either
valid or quarantined with why; `count_by_reason` and `require_valid_rows` make that the run's
row accounting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from common.errors import InputError
from common.lines import CORRUPT_RECORD, RAW_RECORD, SOURCE_FILE
from schemas import conform_to
from schemas.quarantine import QUARANTINE

REASON = "reason"
# The `reason` of a line that is not a record (a format's header line): neither valid nor
# quarantined, counted as `rows_skipped` in the run report.
SKIPPED = "_skipped"
# The file a valid row came from, for contracts that keep it past the classifier
# (`Contract.ingest_file`): a table's `source_file`.
INGEST_FILE = "_ingest_file"
# Typed columns live under this prefix while the rules judge them, beside the raw fields of
# the same name; the classifier then drops the raw fields and takes the prefix off.
TYPED_PREFIX = "_typed_"


@dataclass(frozen=True)
class RowRule:
    """A named condition a valid row must not meet; `broken` builds the Spark condition."""

    reason: str
    description: str
    broken: Callable[[], Column]


@dataclass(frozen=True)
class Field:
    """One field of a contract: the raw input field, its typed column and its rules.

    parse: raw column -> typed value (null when unusable).
    rules: (raw column name, typed column name) -> the rules judging this field, in order.
    """

    raw: str
    name: str
    parse: Callable[[Column], Column]
    rules: Callable[[str, str], Sequence[RowRule]]

    @property
    def typed(self) -> str:
        """The typed column's name while the rules run."""
        return TYPED_PREFIX + self.name


@dataclass(frozen=True)
class Contract:
    """What a valid line of one data set is.

    line_rules: judge the line as a whole (blank, not one record), checked first.
    fields: in the order their reasons are assigned; a later rule may assume earlier ones held.
    then: row-set rules that may quarantine otherwise valid rows (e.g. duplicate ids), applied
        to the typed columns under their contract names.
    ingest_file: keep the file each valid row came from under this name (the raw line and
        file are otherwise kept on quarantined rows only).
    skip: lines that are not records at all (CloudFront's `#` header lines): `reason` SKIPPED.
    """

    kind: str
    line_rules: tuple[Callable[[], RowRule], ...]
    fields: tuple[Field, ...]
    then: tuple[Callable[[DataFrame], DataFrame], ...] = ()
    extra_reasons: tuple[str, ...] = ()
    ingest_file: str | None = None
    skip: Callable[[], Column] | None = None

    def rules(self) -> list[RowRule]:
        """Every row rule, in the order reasons are assigned."""
        return [
            *(rule() for rule in self.line_rules),
            *(rule for f in self.fields for rule in f.rules(f.raw, f.typed)),
        ]

    def reasons(self) -> list[str]:
        """Every reason a line of this data set can be quarantined with."""
        return [rule.reason for rule in self.rules()] + list(self.extra_reasons)


def first_broken_rule(rules: Sequence[RowRule]) -> Column:
    """The reason of the first rule a row breaks, or null when it breaks none.

    Rules are checked in order, so a later rule may assume the earlier ones held (e.g. a
    field is present before its format is checked). A rule whose condition is null counts as
    broken: a row is valid only when every rule proves it so.
    """
    if not rules:
        raise ValueError("at least one rule is needed")
    verdict = None
    for rule in rules:
        condition = F.coalesce(rule.broken(), F.lit(True))
        verdict = F.when(condition, rule.reason) if verdict is None else verdict.when(condition, rule.reason)
    return verdict.otherwise(F.lit(None).cast("string"))


def classify(df: DataFrame, rules: Sequence[RowRule]) -> DataFrame:
    """Add the `reason` column: null for valid rows, the first broken rule's reason otherwise."""
    return df.withColumn(REASON, first_broken_rule(rules))


def classify_lines(lines: DataFrame, contract: Contract) -> DataFrame:
    """Parse every field of `lines` once and give each row its verdict.

    Returns the typed columns under the contract's names, `reason`, and the raw line and file
    (null on valid rows: only the quarantine needs them, and a cached classification stays
    small); plus `contract.ingest_file` when the contract keeps it.
    """
    typed = lines.withColumns({f.typed: f.parse(F.col(f.raw)) for f in contract.fields})
    judged = classify(typed, contract.rules())
    if contract.skip is not None:
        judged = judged.withColumn(REASON, F.when(contract.skip(), F.lit(SKIPPED)).otherwise(F.col(REASON)))
    if contract.ingest_file:
        judged = judged.withColumn(contract.ingest_file, F.when(F.col(REASON).isNull(), F.col(SOURCE_FILE)))
    raw_fields = [f.raw for f in contract.fields]
    named = judged.drop(*raw_fields, CORRUPT_RECORD).withColumnsRenamed({f.typed: f.name for f in contract.fields})
    for step in contract.then:
        named = step(named)
    return named.transform(keep_raw_only_when_quarantined)


def valid_rows(classified: DataFrame) -> DataFrame:
    """Rows that broke no rule, without the bookkeeping columns."""
    bookkeeping = [REASON, RAW_RECORD, SOURCE_FILE, CORRUPT_RECORD]
    return classified.filter(F.col(REASON).isNull()).drop(*bookkeeping)


def quarantined_rows(classified: DataFrame) -> DataFrame:
    """Rows that broke a rule, as the quarantine table: raw record, reason, source file."""
    return classified.filter(F.col(REASON).isNotNull() & (F.col(REASON) != SKIPPED)).transform(conform_to(QUARANTINE))


def keep_raw_only_when_quarantined(classified: DataFrame) -> DataFrame:
    """Null the raw line and file name on valid rows: they are only needed in the quarantine,
    and dropping them keeps a cached classification small."""
    quarantined = F.col(REASON).isNotNull()
    return classified.withColumns(
        {RAW_RECORD: F.when(quarantined, F.col(RAW_RECORD)), SOURCE_FILE: F.when(quarantined, F.col(SOURCE_FILE))}
    )


def count_by_reason(classified: DataFrame) -> tuple[int, dict[str, int]]:
    """Rows read and quarantined rows per reason (skipped rows under SKIPPED), in one Spark action."""
    counts = {row[REASON]: row["rows"] for row in classified.groupBy(REASON).agg(F.count("*").alias("rows")).collect()}
    rows_read = sum(counts.values())
    return rows_read, {reason: n for reason, n in counts.items() if reason is not None}


def require_valid_rows(kind: str, source: str, rows_read: int, by_reason: dict[str, int]) -> None:
    """Stop with one line when an input has no rows, or none that can be used: every later
    step would only produce empty tables that look like a quiet day."""
    if rows_read == 0:
        raise InputError(f"no {kind} lines in {source}")
    quarantined = {reason: n for reason, n in by_reason.items() if reason != SKIPPED}
    if rows_read - by_reason.get(SKIPPED, 0) == sum(quarantined.values()):
        reasons = ", ".join(f"{reason}={n}" for reason, n in sorted(quarantined.items()))
        skipped = f", {by_reason[SKIPPED]} header lines skipped" if SKIPPED in by_reason else ""
        raise InputError(
            f"no valid {kind} lines in {source}: all {sum(quarantined.values())} quarantined ({reasons}){skipped}"
        )
