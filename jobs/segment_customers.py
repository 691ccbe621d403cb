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

from common.classify import quarantined_rows
from common.cli import JobArgumentParser, run_job, storage_path
from common.job import JobRun
from common.lines import read_csv_lines
from common.rules.customers import CUSTOMER_CONTRACT, customer_expectations, prediction_expectations, to_customers
from common.segmentation import load_model, model_k, predict, predictions
from common.tables import TABLE_FORMATS
from schemas.customers import RAW_CUSTOMER

JOB = "segment_customers"


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
    return parser.parse_args(argv)


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Score the input; returns the run report it wrote."""
    with JobRun(spark, JOB, args, output=args.output, fmt=args.format) as run:
        with run.stage("load_model"):
            model = load_model(spark, args.model)
        k = model_k(model)
        classified = run.accept_input(
            read_csv_lines(spark, args.input, RAW_CUSTOMER), CUSTOMER_CONTRACT, source=args.input
        )
        customers = run.check(classified.transform(to_customers), "customers", customer_expectations())
        quarantine = run.publish("quarantine", classified.transform(quarantined_rows))
        with run.stage("score"):
            scored = run.publish(
                "predictions", predictions(predict(model, customers)), expectations=prediction_expectations(k)
            )
        sizes = {row["segment"]: row["count"] for row in scored.rows.groupBy("segment").count().collect()}
        run.metric("model", {"path": args.model, "k": k})
        run.metric("customers_by_segment", {str(s): n for s, n in sorted(sizes.items())})
        run.reconcile(
            {
                "quarantine_rows_equal_rows_quarantined": quarantine.count == run.counts["rows_quarantined"],
                "predictions_equal_rows_valid": scored.count == run.counts["rows_valid"],
            }
        )
        return run.finish(k=k)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
