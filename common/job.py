"""The skeleton every job's run is built on: `JobRun` owns what each run does around its
pipeline, so a job's `run()` reads as the pipeline itself.

    with JobRun(spark, JOB, args, output=args.output) as run:
        classified = run.accept_input(read_json_lines(...), LOG_CONTRACT, source=args.input)
        events = classified.transform(to_events)
        run.publish("error_patterns", error_patterns(events), expectations=...)
        run.reconcile({...})
        return run.finish()

What it owns, in the order a run meets it:
- the run report (common/report.py) and its stage timings;
- Great Expectations' import, started on a thread while Spark reads the input;
- a cache scope: everything cached during the run is released at its end, even on failure;
- the main input's row accounting (rows read, valid, quarantined by reason), and the one-line
  stop when nothing is usable;
- the quality gates (common/gates.py) of a job that takes gate flags: judged once the input is
  classified, before anything changes; a tripped gate stops the run with gate.json and a
  metrics line, and a successful run adds its day to the run history;
- retiring the previous run's report once the input is accepted, before any output changes,
  so outputs without a report are from a run that did not finish;
- publishing tables (count and check before writing, returning what was published);
- reconciliation (every check holds or the run stops) and writing the report last.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.types import StructType

from common import delta, emf, erasure, gates
from common.athena import write_ddl
from common.classify import Contract, classify_lines, count_by_reason, require_valid_rows
from common.dashboard import build_if_asked
from common.errors import ValidationError
from common.expectations import SuiteResult, require_success, run_suite, warm_up_great_expectations
from common.fs import delete_path, join_path, write_text
from common.logs import get_logger
from common.report import REPORT_FILE, RunReport, row_accounting
from common.spark import CacheScope
from common.tables import TableFormat, write_table


@dataclass(frozen=True)
class Published:
    """A table a run wrote: its rows (cached for the rest of the run), their count, its path."""

    name: str
    rows: DataFrame
    count: int
    path: str


# Rows per file of a published table: outputs are aggregates or quarantined lines, so a file of
# this many rows is tens of MB. Fewer, larger files are cheaper to write (one task per file) and
# to read (Athena and Spectrum pay per file).
ROWS_PER_FILE = 500_000


def files_for(count: int) -> int:
    """How many files `count` rows are written as, at most (coalescing only merges partitions)."""
    return max(1, -(-count // ROWS_PER_FILE))


def require_all_hold(checks: Mapping[str, bool], what: str) -> dict[str, bool]:
    """The checks, when every one holds; otherwise stop naming those that do not."""
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise ValidationError(f"{what}: {', '.join(failed)}")
    return dict(checks)


class JobRun(AbstractContextManager["JobRun"]):
    """One run of a job, writing its report into `output` when it finishes."""

    def __init__(
        self,
        spark: SparkSession,
        job: str,
        args: argparse.Namespace,
        *,
        output: str,
        fmt: TableFormat = "delta",
        recorded: Mapping[str, Any] | None = None,
    ) -> None:
        """`recorded`: values the run derived from its arguments (e.g. a batch id) that the
        report lists with them."""
        self.spark = spark
        self.job = job
        self.output = output
        self.fmt = fmt
        self.log = get_logger(job)
        self.args = args
        self.report = RunReport(job, {**vars(args), **(recorded or {})})
        self.cache = CacheScope()
        # Each published table's columns and partitions, for the Athena DDL of Parquet tables.
        self.schemas: dict[str, StructType] = {}
        self.partitions: dict[str, list[str]] = {}
        self.gate_settings = gates.GateSettings.from_args(args)
        self.history: list[dict[str, Any]] | None = None

    def __enter__(self) -> JobRun:
        warm_up_great_expectations()
        self.cache.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cache.__exit__(*exc_info)
        failure = exc_info[1]
        if isinstance(failure, Exception) and not isinstance(failure, gates.GateTrippedError):
            # A failed run says so in the metrics line too (a tripped gate already did): the
            # alarms see failures, not only the absence of successes.
            emf.emit({**self.report.as_dict(), "status": "failed", "error": type(failure).__name__})

    @property
    def run_id(self) -> str:
        return self.report.run_id

    @property
    def counts(self) -> dict[str, Any]:
        """The main input's row accounting: rows_read, rows_valid, rows_quarantined, by reason."""
        return self.report.counts

    def stage(self, name: str) -> AbstractContextManager[None]:
        """Time a stage of the run into the report."""
        return self.report.stage(name)

    def classify(self, lines: DataFrame, contract: Contract, *, source: str) -> tuple[DataFrame, dict[str, Any]]:
        """Classify every input row once and keep the result cached (the quarantine and every
        output are built from it); returns the rows and their accounting. Stops with one line
        when the input has no rows or none that can be used."""
        classified = self.cache(classify_lines(lines, contract))
        rows_read, by_reason = count_by_reason(classified)
        require_valid_rows(contract.kind, source, rows_read, by_reason)
        return classified, row_accounting(rows_read, by_reason)

    def drop_erased(self, lines: DataFrame, hashes: Sequence[str], dataset: str) -> DataFrame:
        """The input lines without those of users erased from the output root (common/erasure.py),
        before they are classified: counted in the report (`metrics.erased`, per dataset), never
        quarantined (that would keep their text)."""
        kept, counts = erasure.drop_erased(lines, hashes)
        self.report.metrics.setdefault("erased", {})[dataset] = counts
        return kept

    def accept_input(
        self,
        lines: DataFrame,
        contract: Contract,
        *,
        source: str,
        require: Callable[[dict[str, Any]], None] | None = None,
        stage: str = "read_and_classify",
    ) -> DataFrame:
        """Classify the run's main input (see `classify`), record its accounting at the top of
        the report, and, once it is accepted (`require` may still refuse it), retire the
        previous run's report: from here on outputs change."""
        with self.stage(stage):
            classified, accounting = self.classify(lines, contract, source=source)
        self.report.counts = accounting
        self.log.info(f"{contract.kind} input classified", extra={"job": self.job, **accounting})
        if require is not None:
            require(accounting)
        self.check_gates()
        delete_path(self.spark, join_path(self.output, REPORT_FILE))
        return classified

    def accept_rows(
        self, kind: str, rows: int, *, source: str, require: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        """Accept a main input that has no lines to judge (rows derived from tables another job
        validated when it loaded them, e.g. users from the warehouse): every row is valid, none
        at all stops the run with one line; then as `accept_input`."""
        require_valid_rows(kind, source, rows, {})
        accounting = row_accounting(rows, {})
        self.report.counts = accounting
        self.log.info(f"{kind} input accepted", extra={"job": self.job, **accounting})
        if require is not None:
            require(accounting)
        self.check_gates()
        delete_path(self.spark, join_path(self.output, REPORT_FILE))

    def accept_nothing_new(self, kind: str, source: str) -> None:
        """Accept a main input whose every file the output already holds (an incremental job's
        rerun): no row to read, a run that adds nothing; then as `accept_input`."""
        accounting = row_accounting(0, {})
        self.report.counts = accounting
        self.log.info(f"{kind} input already loaded", extra={"job": self.job, "source": source, **accounting})
        delete_path(self.spark, join_path(self.output, REPORT_FILE))

    @property
    def day(self) -> str:
        """The processing day the run history files the run under: its `--date`, else today (UTC)."""
        given = getattr(self.args, "date", None)
        return (given or dt.datetime.now(dt.UTC).date()).isoformat()

    def check_gates(self) -> dict[str, dict[str, Any]]:
        """Judge the main input's accounting against the quality gates (a job without gate
        flags has none); record the outcome in the report. A tripped gate, not accepted, writes
        gate.json and a metrics line saying so, then stops the run with one line, before the
        previous report is retired or any output changes."""
        if self.gate_settings is None:
            return {}
        self.history = gates.read_history(self.spark, self.output)
        outcomes = gates.evaluate(self.report.counts, self.history, self.gate_settings)
        self.metric("gates", outcomes)
        names = gates.tripped(outcomes)
        if names:
            line = gates.failure_line(outcomes)
            content = {**self.report.as_dict(), "status": "gate_tripped", "gate": names, "error": line}
            gates.write_gate_file(self.spark, self.output, {**content, "date": self.day})
            emf.emit(content)
            self.log.error("quality gate tripped", extra={"job": self.job, "gate": names})
            raise gates.GateTrippedError(line)
        return outcomes

    def check(self, df: DataFrame, suite: str, expectations: Sequence[Any], rows: int | None = None) -> DataFrame:
        """Run an expectation suite as a timed stage, keep its result, stop the run if it failed
        (`rows`: the known row count, see `run_suite`); returns `df` for chaining."""
        self._suite(df, suite, expectations, rows)
        return df

    def _suite(self, df: DataFrame, suite: str, expectations: Sequence[Any], rows: int | None) -> SuiteResult:
        with self.stage(f"validate_{suite}"):
            result = run_suite(df, suite, expectations, rows)
        self.report.validation[result.suite] = result.as_report()
        require_success([result])
        return result

    def publish(
        self,
        name: str,
        df: DataFrame,
        *,
        expectations: Sequence[Any] | None = None,
        partition_by: list[str] | None = None,
    ) -> Published:
        """Check table `name`'s rows, then replace it under the output root.

        The rows are computed once and cached: the count, the suite, the write and any later
        step that builds on the table (anomalies on windows, reconciliation) read that one copy,
        so the source is scanned once. Checking before writing means a table that fails its
        suite is never published. The count recorded is that of the rows handed to the writer.
        """
        path = join_path(self.output, name)
        rows = self.cache(df)
        count = rows.count()
        if expectations is not None:
            self._suite(rows, name, expectations, count)
        with self.stage(f"write_{name}"):
            write_table(rows.coalesce(files_for(count)), path, self.fmt, partition_by)
        self.record_table(name, path, count, self.fmt)
        self.schemas[name] = rows.schema
        self.partitions[name] = list(partition_by or ())
        return Published(name, rows, count, path)

    def publish_changes(
        self,
        name: str,
        changes: DataFrame,
        write: Callable[[DataFrame], None],
        *,
        expectations: Sequence[Any] | None = None,
        checked: Column | None = None,
    ) -> Published:
        """Check the rows a run changes in Delta table `name` (those it replaces or merges, in
        their final form; `checked`: only those the condition selects, e.g. not rows marked for
        deletion), then hand them to `write` (a replaceWhere or a MERGE): the table's other rows
        stay as they are. Returns the table as written (read lazily, for later steps and
        cross-table checks) with its whole count (Delta answers it from its log)."""
        path = join_path(self.output, name)
        rows = self.cache(changes)
        if expectations is not None:
            suite_rows = rows if checked is None else self.cache(rows.where(checked))
            self._suite(suite_rows, name, expectations, suite_rows.count())
        with self.stage(f"write_{name}"):
            delta.keep_people_out_of_statistics(self.spark, path, rows.schema)
            write(rows)
        table = self.spark.read.format("delta").load(path)
        total = table.count()
        self.record_table(name, path, total, "delta")
        self.schemas[name] = table.schema
        self.partitions[name] = []
        return Published(name, table, total, path)

    def record_table(self, name: str, path: str, rows: int, fmt: str = "delta") -> None:
        """List a table the run wrote by other means (e.g. a MERGE) in the report."""
        self.report.tables[name] = {"path": path, "format": fmt, "rows": rows}

    def write_json(self, name: str, content: Any) -> str:
        """Write a small JSON document (metrics, a model description) beside the tables."""
        path = join_path(self.output, name)
        write_text(self.spark, path, json.dumps(content, indent=2, default=str) + "\n")
        return path

    def metric(self, name: str, value: Any) -> Any:
        """Record a figure of the run in the report's metrics; returns it."""
        self.report.metrics[name] = value
        return value

    def reconcile(
        self, checks: Mapping[str, bool], what: str = "outputs do not reconcile with the input counts"
    ) -> dict[str, bool]:
        """Cross-table checks that must all hold; recorded, or the run stops before it looks complete."""
        return self.metric("reconciliation", require_all_hold(checks, what))

    def finish(self, **facts: Any) -> dict[str, Any]:
        """Write the Athena DDL of the tables, then the report, the run's completion marker,
        last; returns what was written. With `--dashboard`, the page follows the report (it is
        drawn from what the report lists); without it nothing of the dashboard is imported."""
        database = getattr(self.args, "athena_database", None) or self.job
        ddl = write_ddl(self.spark, self.output, database, self.report.tables, self.schemas, self.partitions)
        self.metric("athena", ddl)
        content = self.report.write(self.spark, self.output)
        self._record_history(content)
        self.log.info("run succeeded", extra={"job": self.job, "output": self.output, **facts})
        build_if_asked(self.spark, self.args, self.output, content, self.job)
        return content

    def _record_history(self, content: dict[str, Any]) -> None:
        """Add a successful run that read rows to the run history (the volume gate's baseline)
        and retire a tripped run's gate.json: the day got through."""
        if self.gate_settings is None or self.history is None or not content.get("rows_read"):
            return
        row = gates.history_row(content, self.day)
        gates.write_history(self.spark, self.output, gates.with_run(self.history, row))
        gates.clear_gate_file(self.spark, self.output)


def run_concurrently(tasks: Sequence[Callable[[], Sequence[Published]]], max_workers: int = 4) -> dict[str, Published]:
    """Run independent publishing tasks on threads of one Spark application; returns every
    table they published, by name. A task publishes one table or a chain of tables that build
    on each other (windows, then the anomalies among them).

    Writing a table is partly waiting (commits, listings, job scheduling); overlapping
    independent tables keeps the executors busy. The first failure is re-raised once the
    running tasks finish; tasks not yet started are cancelled.
    """
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="publish") as pool:
        futures = [pool.submit(task) for task in tasks]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            for future in futures:
                future.cancel()
            raise failed[0].exception()
    return {table.name: table for future in futures for table in future.result()}
