"""Build the dashboard of finished runs: `dashboard.html` beside each output root's run report.

    run_report.json + the tables it lists (+ metrics.json) ─> dashboard.html (self-contained)

Every job writes the same page itself when given `--dashboard`; this entrypoint builds it over
output roots that already exist (a run made without the flag, or a page to rebuild), and is
the step the pipelines' state machines run after each job.

spark-submit --py-files dist/spark_jobs-<version>.zip jobs/build_dashboard.py --output ROOT [ROOT ...]
python -m jobs.build_dashboard --output data/output/log_analytics
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.sql import SparkSession

from common.cli import JobArgumentParser, run_job, storage_path
from common.dashboard import DASHBOARD_FILE, build_dashboard
from common.logs import get_logger

JOB = "build_dashboard"


def build_parser() -> JobArgumentParser:
    """The job's options, as `--help` shows them and its page in docs/jobs/ documents them."""
    parser = JobArgumentParser(
        prog=JOB,
        description=f"Write {DASHBOARD_FILE}, a self-contained page of charts, beside the run report of "
        "each output root given (log analytics, transaction ETL, segmentation or scoring runs).",
    )
    parser.add_argument(
        "--output",
        required=True,
        nargs="+",
        type=storage_path,
        help="output root(s) of finished runs (the folders holding run_report.json); local or s3://",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def run(spark: SparkSession, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Build each root's dashboard; prints each page's path (and size) on stdout."""
    log = get_logger(JOB)
    built = []
    for root in args.output:
        page = build_dashboard(spark, root)
        log.info("dashboard written", extra={"job": JOB, **page})
        print(f"{page['path']} ({page['bytes'] / 1e6:.2f} MB, {page['charts']} charts)", flush=True)
        built.append(page)
    return built


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB, argv, parse_args, run)


if __name__ == "__main__":
    sys.exit(main())
