"""Customer segmentation, batch scoring: a saved model and a customer CSV in; each customer's
segment out (the mission's "Machine Learning with Amazon EMR", step 6, batch predictions).

    model/ ─ load (one-line error if missing or not a segmentation model)
    lines ─ read once ─> classify by the customer contract ─┬─> quarantine (raw line, reason, file)
                                                            └─> customers ─> model ─> predictions
    then run_report.json, written last: the run's completion marker.

The input follows the training job's contract and is cleaned by the same rules, so a customer
scored here gets the segment the training run gave it. Categories the model never saw are
scored (as "unknown"), not rejected.

spark-submit --py-files dist/spark_jobs-<version>.zip jobs/segment_customers.py --model ... --input ... --output ...
python -m jobs.segment_customers --help
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.sql import SparkSession

from common.athena import add_database_argument, write_ddl
from common.cli import JobArgumentParser, run_job, storage_path
from common.dashboard import add_dashboard_argument, build_if_asked
from common.errors import ValidationError
from common.io import TABLE_FORMATS, read_csv_lines
from common.logs import get_logger
from common.outputs import publish_table
from common.report import RunReport, retire_previous_report
from common.rules.customers import classify_lines, customer_expectations, prediction_expectations, to_customers
from common.segmentation import load_model, model_k, predict, predictions
from common.spark import CacheScope
from common.validation import classify_input, quarantined_rows, warm_up_great_expectations
from schemas.customers import PREDICTIONS, RAW_CUSTOMER
from schemas.quarantine import QUARANTINE

JOB = "segment_customers"
# Every output table's contract, for the Athena DDL of Parquet outputs.
TABLE_SCHEMAS = {"predictions": PREDICTIONS, "quarantine": QUARANTINE}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = JobArgumentParser(
        prog=JOB,
        description="Score customers with a segmentation model saved by customer_segmentation: write "
        "each customer's segment, plus a quarantine of bad lines.",
    )
    parser.add_argument(
        "--model", required=True, type=storage_path, help="the model/ folder a customer_segmentation run wrote"
    )
    parser.add_argument(
        "--input",
        required=True,
        type=storage_path,
        help="customer CSV with header: file, directory or glob; local or s3://",
    )
    parser.add_argument(
        "--output", required=True, type=storage_path, help="output root; one folder per table, plus run_report.json"
    )
    parser.add_argument("--format", choices=TABLE_FORMATS, default="delta", help="table format of the outputs")
    add_database_argument(parser, JOB)
    add_dashboard_argument(parser)
    return parser.parse_args(argv)


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Score the input; returns the run report it wrote."""
    log = get_logger(JOB)
    report = RunReport(JOB, vars(args))
    warm_up_great_expectations()
    with report.stage("load_model"):
        model = load_model(spark, args.model)
    k = model_k(model)
    with CacheScope() as cache:
        with report.stage("read_and_classify"):
            lines = read_csv_lines(spark, args.input, RAW_CUSTOMER)
            classified, rows_read, by_reason = classify_input(
                lines, classify_lines, cache, kind="customer", source=args.input
            )
        report.record_counts(rows_read, by_reason)
        log.info("input classified", extra={"job": JOB, **report.counts})

        retire_previous_report(spark, args.output)
        customers = classified.transform(to_customers)
        report.check(customers, "customers", customer_expectations())

        publish = dict(output_root=args.output, fmt=args.format, report=report, cache=cache)
        publish_table(df=classified.transform(quarantined_rows), name="quarantine", **publish)
        with report.stage("score"):
            scored = publish_table(
                df=predictions(predict(model, customers)),
                name="predictions",
                expectations=prediction_expectations(k),
                **publish,
            )
        sizes = {row["segment"]: row["count"] for row in scored.groupBy("segment").count().collect()}
        report.metrics["model"] = {"path": args.model, "k": k}
        report.metrics["customers_by_segment"] = {str(s): n for s, n in sorted(sizes.items())}
        report.metrics["reconciliation"] = reconcile(report)
    report.metrics["athena"] = write_ddl(spark, args.output, args.athena_database, report.tables, TABLE_SCHEMAS)
    written = report.write(spark, args.output)
    log.info("run succeeded", extra={"job": JOB, "output": args.output, "k": k})
    build_if_asked(spark, args, args.output, written, JOB)
    return written


def reconcile(report: RunReport) -> dict[str, bool]:
    """Every valid row scored once, every bad row quarantined; a mismatch stops the run."""
    checks = {
        "quarantine_rows_equal_rows_quarantined": report.tables["quarantine"]["rows"]
        == report.counts["rows_quarantined"],
        "predictions_equal_rows_valid": report.tables["predictions"]["rows"] == report.counts["rows_valid"],
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise ValidationError(f"outputs do not reconcile with the input counts: {', '.join(failed)}")
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
