"""A run's dashboard: one self-contained HTML file beside its run report.

`build_dashboard(spark, output_root)` reads what a finished run wrote (`run_report.json`, its
tables, `metrics.json`) and writes `dashboard.html` next to the report, locally or on S3.
Jobs call it at the end of a run given `--dashboard`; `jobs/build_dashboard.py` calls it over
an existing output root. Nothing here is imported by a run without `--dashboard`: altair and
the charting bundle load only inside `build_dashboard`.
"""

from __future__ import annotations

import argparse
from typing import Any

DASHBOARD_FILE = "dashboard.html"


def add_dashboard_argument(parser: argparse.ArgumentParser) -> None:
    """`--dashboard`: build the run's dashboard at the end of the run."""
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help=f"at the end of the run, write {DASHBOARD_FILE} (charts of the tables written) beside the run report",
    )


def build_dashboard(spark: Any, output_root: str, report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the dashboard of the run whose outputs are under `output_root`; returns its path
    and size. `report`: the run report just written (else it is read from the root)."""
    from common.dashboard.build import build

    return build(spark, output_root, report)


def build_if_asked(spark: Any, args: argparse.Namespace, output_root: str, report: dict[str, Any], job: str) -> None:
    """The end of a job's run: its dashboard when `--dashboard` was given, else nothing at all."""
    if not getattr(args, "dashboard", False):
        return
    from common.logs import get_logger

    page = build_dashboard(spark, output_root, report)
    get_logger(job).info("dashboard written", extra={"job": job, **page})
