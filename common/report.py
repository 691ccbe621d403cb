"""The run report: what a run read, kept, quarantined, wrote and checked, as one JSON file.

It is written last, into the output root, and is the run's completion marker: a job deletes
the previous report before touching any output (common/job.py), so outputs without a report
are from a run that did not finish.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pyspark.sql import SparkSession

from common import emf
from common.classify import SKIPPED
from common.fs import join_path, write_text
from common.version import __version__

REPORT_FILE = "run_report.json"


# Argument names whose values are never written down.
_SECRET_NAME = re.compile(r"secret|password|passwd|token|credential|access_key", re.IGNORECASE)


def _without_userinfo(value: Any) -> Any:
    """`s3a://KEY:SECRET@bucket/x` -> `s3a://***@bucket/x`; anything else unchanged."""
    if not isinstance(value, str) or "@" not in value:
        return value
    parts = urlsplit(value)
    if "@" not in parts.netloc:
        return value
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def redact_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as the report may record them: the report is a file anyone with read
    access to the output bucket can open, so no secret-named value and no credentials in a URI."""
    return {
        name: "***" if _SECRET_NAME.search(name) and value is not None else _without_userinfo(value)
        for name, value in arguments.items()
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def row_accounting(rows_read: int, by_reason: Mapping[str, int]) -> dict[str, Any]:
    """Every row read is valid, quarantined for a reason, or (a format's header line) skipped:
    no row lost. `rows_skipped` appears when the input's format has lines to skip."""
    skipped = by_reason.get(SKIPPED)
    quarantined = {reason: n for reason, n in by_reason.items() if reason != SKIPPED}
    rows_quarantined = sum(quarantined.values())
    accounting = {
        "rows_read": rows_read,
        "rows_valid": rows_read - rows_quarantined - (skipped or 0),
        "rows_quarantined": rows_quarantined,
    }
    if skipped is not None:
        accounting["rows_skipped"] = skipped
    return {**accounting, "quarantined_by_reason": dict(sorted(quarantined.items()))}


class RunReport:
    """Collects a run's facts as it goes; `write` makes it the completion marker."""

    def __init__(self, job: str, arguments: Mapping[str, Any]) -> None:
        self.job = job
        self.run_id = uuid.uuid4().hex
        self.arguments = redact_arguments(arguments)
        self.started_at = _now()
        self.counts: dict[str, Any] = {}
        self.tables: dict[str, dict[str, Any]] = {}
        self.validation: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self._clock = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage of the run, in seconds."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - start, 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "version": __version__,
            "run_id": self.run_id,
            "status": "succeeded",
            "started_at": self.started_at,
            "finished_at": _now(),
            "arguments": self.arguments,
            **self.counts,
            "tables": self.tables,
            "validation": self.validation,
            "metrics": self.metrics,
            "timings_seconds": {**self.timings, "total": round(time.perf_counter() - self._clock, 3)},
        }

    def write(self, spark: SparkSession, output_root: str) -> dict[str, Any]:
        """Write the report into the output root and return what was written."""
        content = self.as_dict()
        write_text(spark, join_path(output_root, REPORT_FILE), json.dumps(content, indent=2, default=str) + "\n")
        emf.emit(content)  # the run's CloudWatch metrics, one line, once the report marks it complete
        return content
