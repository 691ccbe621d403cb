"""Customer segmentation, batch scoring: a saved model and a customer CSV and/or the transaction
warehouse in; each customer's segment out (the mission's "Machine Learning with Amazon EMR",
step 6, batch predictions).

    model/ ─ load (one-line error if missing or not a segmentation model), with its feature set
    lines ─ read once ─> classify by the customer contract ─┬─> quarantine (raw line, reason, file)
                                                            └─> customers ─┐
    warehouse transactions ─> behaviour per user (the model's look-back) ──┴─> model ─> predictions
    then run_report.json, written last: the run's completion marker.

The model says which inputs it needs: a demographic model a customer CSV, a behaviour model
the warehouse (behaviour only: every warehouse user is scored), a combined model both.

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

from common import erasure
from common.athena import add_database_argument
from common.behaviour import add_behaviour_arguments, load_behaviour, require_a_source
from common.classify import quarantined_rows
from common.cli import JobArgumentParser, run_job
from common.dashboard import add_dashboard_argument
from common.errors import InputError
from common.job import JobRun
from common.lines import read_csv_lines
from common.rules.customers import (
    CUSTOMER_CONTRACT,
    behaviour_expectations,
    prediction_expectations,
    to_customers,
)
from common.segmentation import FeatureSet, load_model, model_k, predict, predictions
from jobs.customer_segmentation import PREDICTIONS, QUARANTINE
from schemas.customers import RAW_CUSTOMER

JOB = "segment_customers"


def build_parser() -> JobArgumentParser:
    """The job's options, as `--help` shows them and its page in docs/jobs/ documents them."""
    parser = JobArgumentParser(
        prog=JOB,
        description="Score customers with a segmentation model saved by customer_segmentation: write "
        "each customer's segment, plus a quarantine of bad lines.",
    )
    parser.add_path("--model", "the model/ folder a customer_segmentation run wrote")
    parser.add_path(
        "--input",
        "customer CSV with header: file, directory or glob; local or s3:// (the model's demographics)",
        required=False,
    )
    add_behaviour_arguments(parser)
    parser.add_path("--output", "output root; one folder per table, plus run_report.json")
    parser.add_table_format()
    add_database_argument(parser, JOB)
    add_dashboard_argument(parser)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    require_a_source(parser, args)
    return args


def run(spark: SparkSession, args: argparse.Namespace) -> dict[str, Any]:
    """Score the input; returns the run report it wrote."""
    with JobRun(spark, JOB, args, output=args.output, fmt=args.format) as run:
        with run.stage("load_model"):
            model, features = load_model(spark, args.model)
        require_the_models_inputs(features, args)
        k = model_k(model)
        classified, population = None, None
        if args.input:
            lines = read_csv_lines(spark, args.input, RAW_CUSTOMER)
            lines = run.drop_erased(lines, erasure.erased_hashes(spark, args.output), "customers")
            classified = run.accept_input(lines, CUSTOMER_CONTRACT, source=args.input)
            population = classified.transform(to_customers)  # every field proven by the row rules
        if args.warehouse:
            with run.stage("derive_behaviour"):
                found = load_behaviour(spark, args.warehouse, args.as_of, features.lookback_days, population, run.cache)
            if population is None:
                run.accept_rows("warehouse user", found.figures["users"], source=args.warehouse)
            population = run.check(found.population, "behaviour", behaviour_expectations(features.lookback_days))
            run.metric("behaviour", found.figures)
        quarantine = run.publish(QUARANTINE, classified.transform(quarantined_rows)) if classified else None
        with run.stage("score"):
            scored = run.publish(
                PREDICTIONS, predictions(predict(model, population)), expectations=prediction_expectations(k)
            )
        sizes = {row["segment"]: row["count"] for row in scored.rows.groupBy("segment").count().collect()}
        run.metric("model", {"path": args.model, "k": k, "families": list(features.families)})
        run.metric("customers_by_segment", {str(s): n for s, n in sorted(sizes.items())})
        run.reconcile(
            {
                "quarantine_rows_equal_rows_quarantined": (quarantine.count if quarantine else 0)
                == run.counts["rows_quarantined"],
                "predictions_equal_rows_valid": scored.count == run.counts["rows_valid"],
            }
        )
        return run.finish(k=k)


def require_the_models_inputs(features: FeatureSet, args: argparse.Namespace) -> None:
    """Each family the model was trained on needs its source, and no source goes unused."""
    for needed, given, flag, what in (
        (features.demographics, args.input, "--input", "demographics"),
        (features.behaviour, args.warehouse, "--warehouse", "behaviour"),
    ):
        if needed and not given:
            raise InputError(f"the model at {args.model} was trained on {what}: give {flag}")
        if given and not needed:
            raise InputError(f"the model at {args.model} was not trained on {what}: {flag} would be ignored")


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
