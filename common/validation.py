"""Two levels of validation.

Row level: an ordered list of `RowRule`s evaluated in one Spark pass; the first rule a row
breaks becomes its quarantine reason, so every row is either valid or quarantined with why.

Dataset level: Great Expectations 1.x suites run on a DataFrame (valid input, outputs); their
results go into the run report and a failed suite stops the job.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from common.errors import InputError, ValidationError
from common.io import CORRUPT_RECORD, RAW_RECORD, SOURCE_FILE
from schemas import conform_to
from schemas.quarantine import QUARANTINE

REASON = "reason"
# Great Expectations keeps process-wide state (the current project); one suite at a time.
_GX_LOCK = threading.Lock()
# Counts (element, unexpected, observed) but no sample of unexpected values: the report keeps
# only counts, and on Spark every sample is one more scan of the data per expectation (a
# suite of 6 on 1.7 M rows ran 14 Spark jobs with samples, 4 without: 2.5x faster).
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
# A data set known to be this small (an aggregate output) is validated on a pandas copy,
# collected in one Spark job, instead of on Spark, where every expectation is one or more
# Spark jobs: a 4-expectation suite on a 50 k-row table took 1.7 s warm (6 s cold) on Spark,
# 0.2-0.4 s on pandas plus 0.2-0.6 s to collect it. Larger data sets stay on Spark.
PANDAS_MAX_ROWS = 200_000


@dataclass(frozen=True)
class RowRule:
    """A named condition a valid row must not meet; `broken` builds the Spark condition."""

    reason: str
    description: str
    broken: Callable[[], Column]


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


@dataclass(frozen=True)
class SuiteResult:
    """What a Great Expectations suite found, in a form the run report can hold."""

    suite: str
    success: bool
    evaluated: int
    failed: list[str]
    expectations: list[dict[str, Any]]
    engine: str = "spark"

    def as_report(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "engine": self.engine,
            "evaluated": self.evaluated,
            "failed": self.failed,
            "expectations": self.expectations,
        }


def _raised(exception_info: dict[str, Any]) -> str | None:
    """The first error GX caught evaluating an expectation, or None. GX keeps it either flat or
    per metric ({metric id: {"raised_exception": ..., "exception_message": ...}})."""
    for info in (exception_info, *(v for v in exception_info.values() if isinstance(v, dict))):
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "unknown error").splitlines()[0][:300]
    return None


def _summarise(result: dict[str, Any], exception_info: dict[str, Any]) -> dict[str, Any]:
    """Keep the figures a reader needs from one expectation result (not sample rows)."""
    keep = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count")
    details = result.get("result") or {}
    kwargs = {k: v for k, v in (result.get("kwargs") or {}).items() if k != "batch_id"}
    summary = {
        "expectation": result["expectation_type"],
        "kwargs": kwargs,
        "success": bool(result["success"]),
        **{k: details[k] for k in keep if k in details},
    }
    # An expectation that could not be evaluated fails too; say so, or it reads as bad data.
    raised = _raised(exception_info or {})
    if raised is not None:
        summary["raised_exception"] = raised
    return summary


def _quiet_great_expectations():
    """Import GX with analytics (network) and progress bars off; GX's logs at WARNING."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx, ProgressBarsConfig


def warm_up_great_expectations() -> threading.Thread:
    """Import GX (several seconds) on a thread while Spark reads the input; run_suite joins it."""
    thread = threading.Thread(target=_quiet_great_expectations, name="gx-import", daemon=True)
    thread.start()
    return thread


def run_suite(df: DataFrame, suite_name: str, expectations: Sequence[Any], rows: int | None = None) -> SuiteResult:
    """Validate `df` against GX expectations in an ephemeral (in-memory) context.

    `rows`: the row count, when the caller knows it; up to PANDAS_MAX_ROWS the suite runs on
    a pandas copy, otherwise on Spark with `persist=False` (GX must not cache the DataFrame;
    the caller decides what is cached). Results carry counts, not samples of bad values (see
    RESULT_FORMAT).
    """
    engine = "pandas" if rows is not None and rows <= PANDAS_MAX_ROWS else "spark"
    data = df.toPandas() if engine == "pandas" else df
    gx, progress_bars_config = _quiet_great_expectations()
    with _GX_LOCK:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = progress_bars_config(globally=False)
        if engine == "pandas":
            source = context.data_sources.add_pandas(name=engine)
        else:
            source = context.data_sources.add_spark(name=engine, persist=False)
        batch_definition = source.add_dataframe_asset(name=suite_name).add_batch_definition_whole_dataframe("all")
        suite = gx.ExpectationSuite(name=suite_name, expectations=list(expectations))
        batch = batch_definition.get_batch(batch_parameters={"dataframe": data})
        validation = batch.validate(suite, result_format=dict(RESULT_FORMAT))
    described = validation.describe_dict()  # drops the per-metric errors: taken from the results
    summaries = [
        _summarise(d, r.exception_info) for d, r in zip(described["expectations"], validation.results, strict=True)
    ]
    failed = [f"{s['expectation']}({s['kwargs']})" for s in summaries if not s["success"]]
    return SuiteResult(suite_name, bool(described["success"]), len(summaries), failed, summaries, engine)


def ordered_pairs(*pairs: tuple[str, str, bool]) -> list[Any]:
    """For each (a, b, or_equal): column a > b (>= when or_equal) on every row; and no column
    of any pair is null.

    Nulls are judged by their own expectations and skipped by the comparisons: the pandas and
    Spark engines disagree on a comparison with one null side (pandas counts it unexpected,
    Spark does not), and a verdict must not depend on which engine a table's size picked.
    """
    import great_expectations.expectations as gxe

    columns = dict.fromkeys(column for a, b, _ in pairs for column in (a, b))
    return [
        *(gxe.ExpectColumnValuesToNotBeNull(column=column) for column in columns),
        *(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=a, column_B=b, or_equal=or_equal, ignore_row_if="either_value_is_missing"
            )
            for a, b, or_equal in pairs
        ),
    ]


def require_success(results: Sequence[SuiteResult]) -> None:
    """Stop the run, naming the failed expectations, when any suite failed."""
    failures = [f"{r.suite}: {', '.join(r.failed)}" for r in results if not r.success]
    if failures:
        raise ValidationError("expectations failed: " + "; ".join(failures))


def valid_rows(classified: DataFrame) -> DataFrame:
    """Rows that broke no rule, without the bookkeeping columns."""
    bookkeeping = [REASON, RAW_RECORD, SOURCE_FILE, CORRUPT_RECORD]
    return classified.filter(F.col(REASON).isNull()).drop(*bookkeeping)


def quarantined_rows(classified: DataFrame) -> DataFrame:
    """Rows that broke a rule, as the quarantine table: raw record, reason, source file."""
    return classified.filter(F.col(REASON).isNotNull()).transform(conform_to(QUARANTINE))


def keep_raw_only_when_quarantined(classified: DataFrame) -> DataFrame:
    """Null the raw line and file name on valid rows: they are only needed in the quarantine,
    and dropping them keeps a cached classification small."""
    quarantined = F.col(REASON).isNotNull()
    return classified.withColumns(
        {RAW_RECORD: F.when(quarantined, F.col(RAW_RECORD)), SOURCE_FILE: F.when(quarantined, F.col(SOURCE_FILE))}
    )


def count_by_reason(classified: DataFrame) -> tuple[int, dict[str, int]]:
    """Rows read and quarantined rows per reason, in one Spark action."""
    counts = {row[REASON]: row["rows"] for row in classified.groupBy(REASON).agg(F.count("*").alias("rows")).collect()}
    rows_read = sum(counts.values())
    return rows_read, {reason: n for reason, n in counts.items() if reason is not None}


def require_valid_rows(kind: str, source: str, rows_read: int, by_reason: dict[str, int]) -> None:
    """Stop with one line when an input has no rows, or none that can be used: every later
    step would only produce empty tables that look like a quiet day."""
    if rows_read == 0:
        raise InputError(f"no {kind} lines in {source}")
    if rows_read == sum(by_reason.values()):
        reasons = ", ".join(f"{reason}={n}" for reason, n in sorted(by_reason.items()))
        raise InputError(f"no valid {kind} lines in {source}: all {rows_read} quarantined ({reasons})")


def classify_input(
    lines: DataFrame,
    classify_lines: Callable[[DataFrame], DataFrame],
    cache: Callable[[DataFrame], DataFrame],
    *,
    kind: str,
    source: str,
) -> tuple[DataFrame, int, dict[str, int]]:
    """Classify every input row once and keep the result cached: the quarantine and every
    output are built from it, so the input is parsed and judged a single time. Returns the
    classified rows, rows read and quarantined rows per reason; stops when nothing is usable.
    """
    classified = cache(lines.transform(classify_lines))
    rows_read, by_reason = count_by_reason(classified)
    require_valid_rows(kind, source, rows_read, by_reason)
    return classified, rows_read, by_reason
