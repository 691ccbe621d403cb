"""Publishing an output table: write it, read back what landed, count it, check it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from common.io import TableFormat, join_path, read_table, write_table
from common.report import RunReport
from common.spark import CacheScope
from common.validation import require_success, run_suite


def publish_table(
    spark: SparkSession,
    df: DataFrame,
    *,
    output_root: str,
    name: str,
    fmt: TableFormat,
    report: RunReport,
    cache: CacheScope,
    expectations: Sequence[Any] | None = None,
    partition_by: list[str] | None = None,
) -> DataFrame:
    """Replace table `name` under `output_root` and return it as read back from storage.

    Counting and validating the stored table (not the plan that produced it) checks what
    downstream readers will see, and lets later steps build on the stored result instead of
    recomputing it. The read-back is cached in `cache` (released when the job's scope ends):
    an expectation suite runs a dozen small queries, and each query on a Delta path would
    re-plan the table from its log.
    """
    path = join_path(output_root, name)
    with report.stage(f"write_{name}"):
        write_table(df, path, fmt, partition_by)
    written = read_table(spark, path, fmt)
    if expectations is not None:
        written = cache(written)
    report.record_table(name, path, fmt, written.count())
    if expectations is not None:
        with report.stage(f"validate_{name}"):
            result = run_suite(written, name, expectations)
        report.record_suite(result)
        require_success([result])
    return written
