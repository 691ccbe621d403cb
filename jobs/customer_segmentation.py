"""Customer segmentation, training: customer CSV and/or the transaction warehouse in; a KMeans
PipelineModel, its JSON export, every customer's segment and a profile of each segment out (the
mission's "Machine Learning with Amazon EMR", steps 3 to 5).

    lines ─ read once ─> classify by the customer contract ─┬─> quarantine (raw line, reason, file)
                                                            └─> customers ─┐
    warehouse transactions ─> behaviour per user (window ending --as-of) ──┴─> population
        ─> fit features once, KMeans per k (cached), best k by silhouette ─> model/ + model.json
                                                                          ─> predictions (with the
                                                                             features), segment_profiles
    then metrics.json, and run_report.json written last: the run's completion marker.

With --input only: demographics. With --warehouse only: behaviour (RFM) of every warehouse
user. With both: every customer, with its behaviour (none: the documented no-transaction
values), the two families weighted by --demographic-weight and --behaviour-weight.

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

from common import erasure
from common.athena import add_database_argument
from common.behaviour import add_behaviour_arguments, load_behaviour, require_a_source
from common.classify import quarantined_rows
from common.cli import JobArgumentParser, positive_int, run_job
from common.customer_contract import BEHAVIOUR, DEFAULT_LOOKBACK_DAYS, DEMOGRAPHICS
from common.dashboard import add_dashboard_argument
from common.errors import InputError
from common.fs import join_path
from common.job import JobRun, Published
from common.lines import read_csv_lines
from common.rules.customers import (
    CUSTOMER_CONTRACT,
    behaviour_expectations,
    prediction_expectations,
    profile_expectations,
    to_customers,
)
from common.segmentation import (
    DEFAULT_CATEGORY_WEIGHT,
    FeatureSet,
    export_model,
    fit_segmentation,
    predict,
    save_model,
    segment_profiles,
    training_predictions,
)
from common.version import __version__
from schemas.customers import RAW_CUSTOMER

JOB = "customer_segmentation"
MODEL_DIR = "model"
# Tables under --output (segment_customers writes the first two); a rerun drops the lines of the
# customers erased from the output (erase_users: its erased_users table).
PREDICTIONS, QUARANTINE, SEGMENT_PROFILES = "predictions", "quarantine", "segment_profiles"
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


def weight(what: str) -> Any:
    """An argparse type: a weight above 0 and at most 1."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value <= 1:
            raise argparse.ArgumentTypeError(f"{text!r}: the {what} weight must be above 0 and at most 1")
        return value

    return parse


category_weight = weight("category")


def build_parser() -> JobArgumentParser:
    """The job's options, as `--help` shows them and its page in docs/jobs/ documents them."""
    parser = JobArgumentParser(
        prog=JOB,
        description="Train a KMeans customer segmentation on a customer CSV and/or the behaviour in the "
        "transaction warehouse; write the model, its JSON export, every customer's segment, segment profiles, "
        "metrics and a quarantine of bad lines.",
    )
    parser.add_path(
        "--input",
        "customer CSV with header: file, directory or glob; local or s3:// (optional with --warehouse)",
        required=False,
    )
    add_behaviour_arguments(parser)
    parser.add_argument(
        "--lookback-days",
        type=positive_int,
        default=DEFAULT_LOOKBACK_DAYS,
        help="length of the behaviour window, in days, ending on the as-of date",
    )
    parser.add_path("--output", "output root: model/, model.json, tables, metrics.json, report")
    parser.add_table_format()
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--k", type=k_value, default=DEFAULT_K, help="number of segments")
    choice.add_argument(
        "--k-range", type=k_range, metavar="MIN-MAX", help="train each k in the range, keep the best silhouette"
    )
    parser.add_argument("--seed", type=int, default=1, help="KMeans seed: same seed and input, same segments")
    parser.add_argument("--max-iter", type=positive_int, default=20, help="KMeans iterations at most, per k")
    parser.add_argument(
        "--restarts",
        type=positive_int,
        default=1,
        help="KMeans fits per k, from seeds SEED, SEED+1, ...; the lowest-cost fit is kept",
    )
    parser.add_argument(
        "--category-weight",
        type=category_weight,
        default=DEFAULT_CATEGORY_WEIGHT,
        help="weight of the one-hot gender and marital status columns against standardised numbers",
    )
    for family in ("demographic", "behaviour"):
        parser.add_argument(
            f"--{family}-weight",
            type=weight(family),
            default=1.0,
            help=f"weight of every {family} feature, when training on both families",
        )
    add_database_argument(parser, JOB)
    add_dashboard_argument(parser)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    require_a_source(parser, args)
    if args.k_range:
        args.k = None  # the range decides; the report must not show the unused default
    return args


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Run the pipeline; returns the run report it wrote."""
    ks = args.k_range or [args.k]
    features = feature_set(args)
    with JobRun(spark, JOB, args, output=args.output, fmt=args.format) as run:
        classified, population = None, None
        if args.input:
            erased = erasure.erased_hashes(spark, args.output)
            lines = run.drop_erased(read_csv_lines(spark, args.input, RAW_CUSTOMER), erased, "customers")
            classified = run.accept_input(
                lines, CUSTOMER_CONTRACT, source=args.input, require=lambda counts: require_enough(counts, max(ks))
            )
            population = classified.transform(to_customers)  # every field proven by the row rules
        if args.warehouse:
            with run.stage("derive_behaviour"):
                found = load_behaviour(spark, args.warehouse, args.as_of, args.lookback_days, population, run.cache)
            if population is None:
                users, require = found.figures["users"], lambda counts: require_enough(counts, max(ks))
                run.accept_rows("warehouse user", users, source=args.warehouse, require=require)
            population = run.check(found.population, "behaviour", behaviour_expectations(args.lookback_days))
            run.metric("behaviour", found.figures)
        with run.stage("train"):
            trained = fit_segmentation(
                population, ks, args.seed, args.max_iter, features=features, restarts=args.restarts
            )
        metrics = run.metric("model", training_metrics(trained, args, rows_trained=run.counts["rows_valid"]))
        run.log.info("model trained", extra={"job": JOB, **metrics})
        with run.stage("save_model"):
            save_model(trained.model, join_path(args.output, MODEL_DIR), features)
            about = {"trained_by": f"{JOB} {__version__}", "run_id": run.run_id, "seed": args.seed}
            run.write_json(MODEL_JSON, export_model(trained.model, features, **about))
        scored = run.cache(predict(trained.model, population))
        quarantine = run.publish(QUARANTINE, classified.transform(quarantined_rows)) if classified else None
        predicted = run.publish(
            PREDICTIONS, training_predictions(scored, features), expectations=prediction_expectations(trained.k)
        )
        profiles = run.publish(
            SEGMENT_PROFILES,
            segment_profiles(scored, features),
            expectations=profile_expectations(trained.k, features.families),
        )
        run.reconcile(reconciliation(run.counts, quarantine, predicted, profiles))
        run.write_json(METRICS_FILE, metrics)
        return run.finish(k=trained.k)


def feature_set(args: argparse.Namespace) -> FeatureSet:
    """The families the arguments give (a CSV: demographics; a warehouse: behaviour) and their weights."""
    return FeatureSet(
        families=tuple(
            family for family, source in ((DEMOGRAPHICS, args.input), (BEHAVIOUR, args.warehouse)) if source
        ),
        category_weight=args.category_weight,
        demographic_weight=args.demographic_weight,
        behaviour_weight=args.behaviour_weight,
        lookback_days=args.lookback_days,
    )


def require_enough(counts: dict[str, Any], k: int) -> None:
    """KMeans needs at least k customers (or warehouse users)."""
    if counts["rows_valid"] < k:
        raise InputError(f"{counts['rows_valid']} valid customers are too few for k={k}")


def training_metrics(trained: Any, args: argparse.Namespace, rows_trained: int) -> dict[str, Any]:
    """What metrics.json records: the model's figures and the settings that produced them."""
    return {
        **trained.metrics(),
        "seed": args.seed,
        "max_iter": args.max_iter,
        "category_weight": args.category_weight,
        **(
            {
                "demographic_weight": args.demographic_weight,
                "behaviour_weight": args.behaviour_weight,
                "lookback_days": args.lookback_days,
            }
            if trained.features.behaviour
            else {}
        ),
        "rows_trained": rows_trained,
    }


def reconciliation(
    counts: dict[str, Any], quarantine: Published | None, predicted: Published, profiles: Published
) -> dict[str, bool]:
    """Row accounting across tables (no quarantine when there was no customer file)."""
    profile_sizes = {row["segment"]: row["customers"] for row in profiles.rows.select("segment", "customers").collect()}
    quarantined = quarantine.count if quarantine else 0
    return {
        "quarantine_rows_equal_rows_quarantined": quarantined == counts["rows_quarantined"],
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
