"""Command-line plumbing shared by every job: argument parsing and the main wrapper.

Whatever goes wrong, the user gets one line naming the problem and a non-zero exit code:
2 for a wrong argument, 1 for a failed run, 130 when interrupted. Never a bare stack trace.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

from pyspark.sql import SparkSession

from common.errors import JobError
from common.logs import get_logger
from common.spark import build_session
from common.tables import TABLE_FORMATS
from common.version import __version__


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default, but not "(default: None)" on required or unset options."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or action.default is None or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


class JobArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error instead of usage plus error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def add_path(self, flag: str, help: str, *, required: bool = True) -> None:
        """A location argument: a local path or a URI, never one carrying credentials."""
        self.add_argument(flag, required=required, type=storage_path, help=help)

    def add_run_date(self) -> None:
        """`--date`: the processing day a dated pipeline runs the job for (its input is that
        day's prefix); recorded in the report and the run history."""
        self.add_argument(
            "--date",
            type=iso_date,
            help="processing day (yyyy-mm-dd) the input holds, as the daily pipelines pass it: recorded in the "
            "report and the run history",
        )

    def add_table_format(self) -> None:
        """`--format` of the output tables."""
        self.add_argument("--format", choices=TABLE_FORMATS, default="delta", help="table format of the outputs")


def whole_number(text: str, minimum: int) -> int:
    """`text` as a whole number of at least `minimum`, or argparse's one-line error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
    return value


def positive_int(text: str) -> int:
    """An argparse type for counts and sizes."""
    return whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type for a count that may be 0 (e.g. days of a window)."""
    return whole_number(text, 0)


def positive_number(text: str) -> float:
    """An argparse type for thresholds: a finite number above zero ("nan" and "inf" parse as
    floats but would silently disable a comparison)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


def iso_date(text: str) -> dt.date:
    """An argparse type: a calendar date, yyyy-mm-dd."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-30") from None


def storage_path(text: str) -> str:
    """An argparse type for an input or output location: a local path or a URI (s3://, s3a://).

    A URI carrying credentials (`s3a://KEY:SECRET@bucket/...`) is refused, without echoing it:
    arguments are logged and recorded in the run report. Credentials come from the AWS chain.
    """
    if "@" in urlsplit(text).netloc:
        raise argparse.ArgumentTypeError(
            "credentials in a URI are not accepted (they would be logged); use the AWS credential chain"
        )
    return text


def describe_failure(exc: BaseException) -> str:
    """One line for any exception: our own message, Spark's error class, or a JVM exception."""
    java_exception = getattr(exc, "java_exception", None)
    if java_exception is not None and not hasattr(exc, "getErrorClass"):
        text = str(java_exception.toString())
    else:
        text = str(exc) or type(exc).__name__
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return first_line


def run_job(
    name: str,
    argv: Sequence[str] | None,
    parse_args: Callable[[Sequence[str] | None], argparse.Namespace],
    run: Callable[[SparkSession, argparse.Namespace], Any],
) -> int:
    """Parse arguments, start Spark, run the job, and turn any failure into one line."""
    args = parse_args(argv)
    logger = get_logger(name)
    # Stop only a session this call started: an embedding process (a test suite, a notebook,
    # an orchestrator running several jobs) keeps its own.
    started_here = SparkSession.getActiveSession() is None
    spark = None
    try:
        spark = build_session(name)
        run(spark, args)
        return 0
    except KeyboardInterrupt:
        sys.stderr.write(f"{name}: interrupted\n")
        return 130
    except JobError as exc:
        message, code = str(exc), exc.exit_code
    except Exception as exc:  # noqa: BLE001 - any failure must end as one line, not a trace
        message, code = describe_failure(exc), 1
    finally:
        if spark is not None and started_here:
            spark.stop()
    logger.error("run failed", extra={"job": name, "error": message})
    sys.stderr.write(f"{name}: error: {message}\n")
    return code
