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
import re
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from common.classify import quarantined_rows
from common.cli import JobArgumentParser, positive_int, run_job, storage_path
from common.errors import InputError
from common.fs import join_path
from common.job import JobRun, Published
from common.lines import read_csv_lines
from common.rules.customers import (
    CUSTOMER_CONTRACT,
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
from common.tables import TABLE_FORMATS
from common.version import __version__
from schemas.customers import RAW_CUSTOMER

JOB = "customer_segmentation"
MODEL_DIR = "model"
MODEL_JSON = "model.json"
METRICS_FILE = "metrics.json"
DEFAULT_K = 5  # as in the mission's seed script
MIN_K = 2  # a silhouette needs two clusters


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
    args = parser.parse_args(argv)
    if args.k_range:
        args.k = None  # the range decides; the report must not show the unused default
    return args


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Run the pipeline; returns the run report it wrote."""
    ks = args.k_range or [args.k]
    with JobRun(spark, JOB, args, output=args.output, fmt=args.format) as run:
        lines = read_csv_lines(spark, args.input, RAW_CUSTOMER)
        classified = run.accept_input(
            lines, CUSTOMER_CONTRACT, source=args.input, require=lambda counts: require_enough(counts, max(ks))
        )
        customers = run.check(classified.transform(to_customers), "customers", customer_expectations())
        with run.stage("train"):
            trained = fit_segmentation(customers, ks, args.seed, args.max_iter, args.category_weight)
        metrics = run.metric("model", training_metrics(trained, args, rows_trained=run.counts["rows_valid"]))
        run.log.info("model trained", extra={"job": JOB, **metrics})
        with run.stage("save_model"):
            save_model(trained.model, join_path(args.output, MODEL_DIR))
            about = {"trained_by": f"{JOB} {__version__}", "run_id": run.run_id, "seed": args.seed}
            run.write_json(MODEL_JSON, export_model(trained.model, **about))
        scored = run.cache(predict(trained.model, customers))
        quarantine = run.publish("quarantine", classified.transform(quarantined_rows))
        predicted = run.publish("predictions", predictions(scored), expectations=prediction_expectations(trained.k))
        profiles = run.publish(
            "segment_profiles", segment_profiles(scored), expectations=profile_expectations(trained.k)
        )
        run.reconcile(reconciliation(run.counts, quarantine, predicted, profiles))
        run.write_json(METRICS_FILE, metrics)
        return run.finish(k=trained.k)


def require_enough(counts: dict[str, Any], k: int) -> None:
    """KMeans needs at least k customers."""
    if counts["rows_valid"] < k:
        raise InputError(f"{counts['rows_valid']} valid customers are too few for k={k}")


def training_metrics(trained: Any, args: argparse.Namespace, rows_trained: int) -> dict[str, Any]:
    """What metrics.json records: the model's figures and the settings that produced them."""
    return {
        **trained.metrics(),
        "seed": args.seed,
        "max_iter": args.max_iter,
        "category_weight": args.category_weight,
        "rows_trained": rows_trained,
    }


def reconciliation(
    counts: dict[str, Any], quarantine: Published, predicted: Published, profiles: Published
) -> dict[str, bool]:
    """Row accounting across tables."""
    profile_sizes = {row["segment"]: row["customers"] for row in profiles.rows.select("segment", "customers").collect()}
    return {
        "quarantine_rows_equal_rows_quarantined": quarantine.count == counts["rows_quarantined"],
        "predictions_equal_rows_valid": predicted.count == counts["rows_valid"],
        "profile_sizes_sum_to_rows_valid": sum(profile_sizes.values()) == counts["rows_valid"],
        "profile_sizes_match_predictions": segment_sizes(predicted.rows) == profile_sizes,
    }


def segment_sizes(predicted: DataFrame) -> dict[int, int]:
    return {row["segment"]: row["count"] for row in predicted.groupBy("segment").count().collect()}


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
