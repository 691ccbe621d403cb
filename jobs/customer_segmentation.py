"""Customer segmentation, training: customer CSV in; a KMeans PipelineModel, its JSON export,
every customer's segment and a profile of each segment out (the mission's "Machine Learning
with Amazon EMR", steps 3 to 5).

    lines ─ read once ─> classify by the customer contract ─┬─> quarantine (raw line, reason, file)
                                                            └─> customers ─> fit features once,
        KMeans per k (cached), best k by silhouette ─> model/ + model.json
                                                   ─> predictions, segment_profiles
    then metrics.json, and run_report.json written last: the run's completion marker.

spark-submit --py-files dist/spark_jobs-<version>.zip jobs/customer_segmentation.py --input ... --output ...
python -m jobs.customer_segmentation --help
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from common.athena import add_database_argument, write_ddl
from common.cli import JobArgumentParser, positive_int, run_job, storage_path
from common.dashboard import add_dashboard_argument, build_if_asked
from common.errors import InputError, ValidationError
from common.io import TABLE_FORMATS, join_path, read_csv_lines, write_text
from common.logs import get_logger
from common.outputs import publish_table
from common.report import RunReport, retire_previous_report
from common.rules.customers import (
    classify_lines,
    customer_expectations,
    prediction_expectations,
    profile_expectations,
    to_customers,
)
from common.segmentation import (
    DEFAULT_CATEGORY_WEIGHT,
    export_model,
    fit_segmentation,
    predict,
    predictions,
    save_model,
    segment_profiles,
)
from common.spark import CacheScope
from common.validation import classify_input, quarantined_rows, warm_up_great_expectations
from common.version import __version__
from schemas.customers import PREDICTIONS, RAW_CUSTOMER, SEGMENT_PROFILES
from schemas.quarantine import QUARANTINE

JOB = "customer_segmentation"
MODEL_DIR = "model"
MODEL_JSON = "model.json"
METRICS_FILE = "metrics.json"
DEFAULT_K = 5  # as in the mission's seed script
MIN_K = 2  # a silhouette needs two clusters
# Every output table's contract, for the Athena DDL of Parquet outputs.
TABLE_SCHEMAS = {"predictions": PREDICTIONS, "segment_profiles": SEGMENT_PROFILES, "quarantine": QUARANTINE}


def k_value(text: str) -> int:
    """An argparse type: a number of segments, at least 2."""
    k = positive_int(text)
    if k < MIN_K:
        raise argparse.ArgumentTypeError(f"{text!r}: k must be at least {MIN_K}")
    return k


def k_range(text: str) -> list[int]:
    """An argparse type: 'MIN-MAX' -> [MIN, ..., MAX], with 2 <= MIN <= MAX."""
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range like 2-8")
    low, high = int(match.group(1)), int(match.group(2))
    if low < MIN_K or high < low:
        raise argparse.ArgumentTypeError(f"{text!r}: need {MIN_K} <= MIN <= MAX")
    return list(range(low, high + 1))


def category_weight(text: str) -> float:
    """An argparse type: a weight above 0 and at most 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the category weight must be above 0 and at most 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = JobArgumentParser(
        prog=JOB,
        description="Train a KMeans customer segmentation on a customer CSV; write the model, its JSON "
        "export, every customer's segment, segment profiles, metrics and a quarantine of bad lines.",
    )
    parser.add_argument(
        "--input",
        required=True,
        type=storage_path,
        help="customer CSV with header: file, directory or glob; local or s3://",
    )
    parser.add_argument(
        "--output",
        required=True,
        type=storage_path,
        help="output root: model/, model.json, tables, metrics.json, report",
    )
    parser.add_argument("--format", choices=TABLE_FORMATS, default="delta", help="table format of the outputs")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--k", type=k_value, default=DEFAULT_K, help="number of segments")
    choice.add_argument(
        "--k-range", type=k_range, metavar="MIN-MAX", help="train each k in the range, keep the best silhouette"
    )
    parser.add_argument("--seed", type=int, default=1, help="KMeans seed: same seed and input, same segments")
    parser.add_argument("--max-iter", type=positive_int, default=20, help="KMeans iterations at most, per k")
    parser.add_argument(
        "--category-weight",
        type=category_weight,
        default=DEFAULT_CATEGORY_WEIGHT,
        help="weight of the one-hot gender and marital status columns against standardised numbers",
    )
    add_database_argument(parser, JOB)
    add_dashboard_argument(parser)
    args = parser.parse_args(argv)
    if args.k_range:
        args.k = None  # the range decides; the report must not show the unused default
    return args


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Run the pipeline; returns the run report it wrote."""
    log = get_logger(JOB)
    report = RunReport(JOB, vars(args))
    ks = args.k_range or [args.k]
    warm_up_great_expectations()
    with CacheScope() as cache:
        with report.stage("read_and_classify"):
            lines = read_csv_lines(spark, args.input, RAW_CUSTOMER)
            classified, rows_read, by_reason = classify_input(
                lines, classify_lines, cache, kind="customer", source=args.input
            )
        report.record_counts(rows_read, by_reason)
        log.info("input classified", extra={"job": JOB, **report.counts})
        valid = report.counts["rows_valid"]
        if valid < max(ks):
            raise InputError(f"{valid} valid customers are too few for k={max(ks)}")

        retire_previous_report(spark, args.output)
        customers = classified.transform(to_customers)
        report.check(customers, "customers", customer_expectations())

        with report.stage("train"):
            trained = fit_segmentation(customers, ks, args.seed, args.max_iter, args.category_weight)
        metrics = {
            **trained.metrics(),
            "seed": args.seed,
            "max_iter": args.max_iter,
            "category_weight": args.category_weight,
            "rows_trained": valid,
        }
        log.info("model trained", extra={"job": JOB, **metrics})
        with report.stage("save_model"):
            save_model(trained.model, join_path(args.output, MODEL_DIR))
            exported = export_model(
                trained.model, trained_by=f"{JOB} {__version__}", run_id=report.run_id, seed=args.seed
            )
            write_text(spark, join_path(args.output, MODEL_JSON), json.dumps(exported, indent=2) + "\n")

        scored = cache(predict(trained.model, customers))
        publish = dict(output_root=args.output, fmt=args.format, report=report, cache=cache)
        publish_table(df=classified.transform(quarantined_rows), name="quarantine", **publish)
        predicted = publish_table(
            df=predictions(scored), name="predictions", expectations=prediction_expectations(trained.k), **publish
        )
        profiles = publish_table(
            df=segment_profiles(scored),
            name="segment_profiles",
            expectations=profile_expectations(trained.k),
            **publish,
        )
        report.metrics["model"] = metrics
        report.metrics["reconciliation"] = reconcile(report, predicted, profiles)
        write_text(spark, join_path(args.output, METRICS_FILE), json.dumps(metrics, indent=2) + "\n")
    report.metrics["athena"] = write_ddl(spark, args.output, args.athena_database, report.tables, TABLE_SCHEMAS)
    written_report = report.write(spark, args.output)
    log.info("run succeeded", extra={"job": JOB, "output": args.output, "k": trained.k})
    build_if_asked(spark, args, args.output, written_report, JOB)
    return written_report


def reconcile(report: RunReport, predicted: DataFrame, profiles: DataFrame) -> dict[str, bool]:
    """Row accounting across tables; any mismatch stops the run before it looks complete."""
    valid, quarantined = report.counts["rows_valid"], report.counts["rows_quarantined"]
    checks = {
        "quarantine_rows_equal_rows_quarantined": report.tables["quarantine"]["rows"] == quarantined,
        "predictions_equal_rows_valid": report.tables["predictions"]["rows"] == valid,
        "profile_sizes_sum_to_rows_valid": profiles.agg(F.sum("customers")).first()[0] == valid,
        "profile_sizes_match_predictions": segment_sizes(predicted)
        == {row["segment"]: row["customers"] for row in profiles.select("segment", "customers").collect()},
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise ValidationError(f"outputs do not reconcile with the input counts: {', '.join(failed)}")
    return checks


def segment_sizes(predicted: DataFrame) -> dict[int, int]:
    return {row["segment"]: row["count"] for row in predicted.groupBy("segment").count().collect()}


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
