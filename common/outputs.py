"""Publishing an output table: write it, read back what landed, count it, check it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from common.io import TableFormat, join_path, read_table, write_table
from common.report import RunReport
from common.spark import CacheScope


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
        report.check(written, name, expectations)
    return written


def run_concurrently(tasks: Mapping[str, Callable[[], DataFrame]], max_workers: int = 4) -> dict[str, DataFrame]:
    """Run independent publishing tasks on threads of one Spark application.

    Writing a table is partly waiting (commits, listings, job scheduling); overlapping
    independent tables keeps the executors busy. The first failure is re-raised once the
    running tasks finish; tasks not yet started are cancelled.
    """
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="publish") as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
        done, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            for future in futures.values():
                future.cancel()
            raise failed[0].exception()
    return {name: future.result() for name, future in futures.items()}
