"""Publishing an output table: compute its rows once, count and check them, then write them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from pyspark.sql import DataFrame

from common.io import TableFormat, join_path, write_table
from common.report import RunReport
from common.spark import CacheScope


def publish_table(
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
    """Check table `name`'s rows, then replace it under `output_root`; returns the rows.

    The rows are computed once and cached in `cache` (released when the job's scope ends):
    the count, the suite, the write and any later step that builds on the table (anomalies
    on windows, reconciliation) read that one copy, so the source (for the quarantine, every
    classified input row) is scanned once, not once to count and again to write. Checking
    before writing means a table that fails its suite is never published; reading the table
    back from storage instead cost a Delta snapshot per table, seconds each on a few local
    cores. The row count recorded is that of the rows handed to the writer.
    """
    path = join_path(output_root, name)
    rows = cache(df)
    count = rows.count()
    if expectations is not None:
        report.check(rows, name, expectations, count)
    with report.stage(f"write_{name}"):
        write_table(rows, path, fmt, partition_by)
    report.record_table(name, path, fmt, count)
    return rows


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
