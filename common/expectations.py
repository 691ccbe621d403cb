"""Data-set validation: Great Expectations 1.x suites run on a DataFrame (valid input, outputs).

Row rules prove each row's fields (common/classify.py); a suite proves what rows cannot:
uniqueness, ranges over a table, consistency between columns. Results go into the run report,
and a failed suite stops the job.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame

from common.errors import ValidationError

# Great Expectations keeps process-wide state (the current project); one suite at a time.
_GX_LOCK = threading.Lock()
# Counts (element, unexpected, observed) but no sample of unexpected values: the report keeps
# only counts, and on Spark every sample is one more scan of the data per expectation.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
# A data set known to be this small (an aggregate output) is validated on a pandas copy,
# collected in one Spark job, instead of on Spark, where every expectation is one or more
# Spark jobs with their fixed cost. Larger data sets stay on Spark.
PANDAS_MAX_ROWS = 200_000


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
