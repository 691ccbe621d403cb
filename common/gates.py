"""Quality gates: the checks that stop a day whose input looks wrong before its results are
published, so a bad day fails loudly instead of succeeding with half the data.

A run that completes is not a run that is right. The two incidents daily pipelines see most:
a producer renames a field and most rows land in the quarantine, or part of a day's files never
arrive and the day is small. Two gates catch them:

- `quarantine_rate`: the share of the main input's rows quarantined, at most a maximum (each
  job has its own default, which its flags override);
- `volume`: the rows read, between a minimum and a maximum ratio of the median of the last N
  successful runs (one per processing day, from the run history in the output root). With
  fewer than N such runs the gate is skipped, and the report says so.

Both count records: an input format's skipped lines (`rows_skipped`, CloudFront's header lines)
are neither in the rate's denominator nor in the volume.

A tripped gate stops the run with one line naming the gate and the figures (`GateTrippedError`, a
distinct exit code locally), writes `<output>/gate.json` for the orchestrators, and leaves the
previous results as they were. `--accept-gate NAME` lets an operator push a known-odd day
through; the report records the gate as accepted.

The verdict (`evaluate`) is pure; reading and writing the history and gate.json are the edges.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession

from common.errors import JobError
from common.fs import delete_path, join_path, path_exists, read_text, write_text

GATE_FILE = "gate.json"
HISTORY_FILE = "run_history.json"
GATES = ("quarantine_rate", "volume")
# The history keeps this many days: enough for any sensible N, small enough to rewrite each run.
HISTORY_DAYS = 400
# Exit code of a run stopped by a gate (1 is any other failure, 2 a wrong argument): a local
# scheduler can tell "the data is odd" from "the job broke". In cluster deploy mode
# spark-submit exits 1 for both; gate.json and the metrics line say which.
GATE_EXIT_CODE = 3


class GateTrippedError(JobError):
    """The day's input broke a quality gate; nothing of the day's results was published."""

    exit_code = GATE_EXIT_CODE


@dataclass(frozen=True)
class GateDefaults:
    """A job's own thresholds, used when the run gives no gate flags."""

    max_quarantine_rate: float = 0.05
    min_volume_ratio: float = 0.5
    max_volume_ratio: float = 3.0
    volume_history: int = 7


@dataclass(frozen=True)
class GateSettings:
    """The thresholds one run applies, and the gates its operator accepted."""

    max_quarantine_rate: float
    min_volume_ratio: float
    max_volume_ratio: float
    volume_history: int
    accepted: frozenset[str] = frozenset()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GateSettings | None:
        """The run's settings, or None for a job that takes no gate flags."""
        if not hasattr(args, "max_quarantine_rate"):
            return None
        return cls(
            args.max_quarantine_rate,
            args.min_volume_ratio,
            args.max_volume_ratio,
            args.volume_history,
            frozenset(args.accept_gate or ()),
        )


def _rate(text: str) -> float:
    """An argparse type for a share of rows: 0 to 1 (0.05 is 5 %)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1 (0.05 is 5 %)")
    return value


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of at least 0")
    return value


def _runs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def add_gate_arguments(parser: argparse.ArgumentParser, defaults: GateDefaults) -> None:
    """The gate flags, with the job's own defaults."""
    parser.add_argument(
        "--max-quarantine-rate",
        type=_rate,
        default=defaults.max_quarantine_rate,
        help="quality gate: the largest share of input rows the run may quarantine (0.05 is 5 %%)",
    )
    parser.add_argument(
        "--min-volume-ratio",
        type=_ratio,
        default=defaults.min_volume_ratio,
        help="quality gate: the fewest rows read, as a ratio of the median of the last --volume-history runs",
    )
    parser.add_argument(
        "--max-volume-ratio",
        type=_ratio,
        default=defaults.max_volume_ratio,
        help="quality gate: the most rows read, as a ratio of that median",
    )
    parser.add_argument(
        "--volume-history",
        type=_runs,
        default=defaults.volume_history,
        help="how many successful days the volume gate's median needs (fewer: the gate is skipped)",
    )
    parser.add_argument(
        "--accept-gate",
        action="append",
        choices=GATES,
        help="let the run through this gate (repeatable): an operator's decision the report records",
    )


# ── the verdict: pure ────────────────────────────────────────────────────────────────────


def records(counts: Mapping[str, Any]) -> int:
    """The rows of an accounting (a report, a history row) that are records: rows read less the
    skipped ones (an input format's header lines, such as CloudFront's, which scale with the
    number of files, not with the day's traffic)."""
    return int(counts.get("rows_read", 0)) - int(counts.get("rows_skipped", 0))


def history_volumes(history: Sequence[Mapping[str, Any]], runs: int) -> list[int]:
    """Records read by the last `runs` successful days (the latest run of each day)."""
    by_day: dict[str, int] = {}
    for row in sorted(history, key=lambda r: str(r.get("finished_at", ""))):
        by_day[str(row["date"])] = records(row)
    return [by_day[day] for day in sorted(by_day)[-runs:]]


def evaluate(
    counts: Mapping[str, Any], history: Sequence[Mapping[str, Any]], settings: GateSettings
) -> dict[str, dict[str, Any]]:
    """Each gate's outcome for the main input's accounting: status `passed`, `tripped`,
    `accepted` (tripped, let through) or `skipped`, with its figures and a line saying why."""
    rows = records(counts)
    quarantined = int(counts.get("rows_quarantined", 0))
    rate = quarantined / rows if rows else 0.0
    outcomes: dict[str, dict[str, Any]] = {}
    limit = settings.max_quarantine_rate
    outcomes["quarantine_rate"] = {
        "status": "tripped" if rate > limit else "passed",
        "value": round(rate, 6),
        "max": limit,
        "line": f"{quarantined} of {rows} rows quarantined ({rate:.1%}), the maximum is {limit:.1%}",
    }
    volumes = history_volumes(history, settings.volume_history)
    if len(volumes) < settings.volume_history:
        outcomes["volume"] = {
            "status": "skipped",
            "value": rows,
            "line": f"{len(volumes)} successful days in the run history, the volume gate needs "
            f"{settings.volume_history}",
        }
    else:
        median = statistics.median(volumes)
        low, high = settings.min_volume_ratio * median, settings.max_volume_ratio * median
        ratio = rows / median if median else float("inf")
        outcomes["volume"] = {
            "status": "passed" if low <= rows <= high else "tripped",
            "value": rows,
            "median": median,
            "ratio": round(ratio, 4),
            "min_ratio": settings.min_volume_ratio,
            "max_ratio": settings.max_volume_ratio,
            "line": f"{rows} rows read, {ratio:.2f} times the median {median:g} of the last "
            f"{len(volumes)} days (allowed {settings.min_volume_ratio:g} to {settings.max_volume_ratio:g})",
        }
    for name, outcome in outcomes.items():
        if outcome["status"] == "tripped" and name in settings.accepted:
            outcome["status"] = "accepted"
    return outcomes


def tripped(outcomes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The gates that stop the run, in the order they are checked."""
    return [name for name in GATES if outcomes.get(name, {}).get("status") == "tripped"]


def failure_line(outcomes: Mapping[str, Mapping[str, Any]]) -> str:
    """The one line a stopped run ends with: each tripped gate and its figures, and the way on."""
    names = tripped(outcomes)
    reasons = "; ".join(f"{outcomes[name]['line']}" for name in names)
    accept = " ".join(f"--accept-gate {name}" for name in names)
    return (
        f"quality gate {', '.join(names)} tripped: {reasons}; nothing of the day was published "
        f"(rerun with {accept} to publish it anyway)"
    )


def history_row(report: Mapping[str, Any], day: str) -> dict[str, Any]:
    """The run history's row for a successful run."""
    gates = report.get("metrics", {}).get("gates", {})
    return {
        "date": day,
        "run_id": report["run_id"],
        "finished_at": report["finished_at"],
        "rows_read": int(report.get("rows_read", 0)),
        "rows_quarantined": int(report.get("rows_quarantined", 0)),
        **({"rows_skipped": int(report["rows_skipped"])} if "rows_skipped" in report else {}),
        "accepted_gates": sorted(name for name, g in gates.items() if g.get("status") == "accepted"),
    }


def with_run(history: Sequence[Mapping[str, Any]], row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The history with `row` appended, the oldest days beyond `HISTORY_DAYS` dropped."""
    rows = [dict(r) for r in history] + [dict(row)]
    days = sorted({str(r["date"]) for r in rows})[-HISTORY_DAYS:]
    return [r for r in rows if str(r["date"]) in days]


# ── the edges: the history and gate.json in the output root ─────────────────────────────


def read_history(spark: SparkSession, output: str) -> list[dict[str, Any]]:
    """The output root's run history ([] before its first successful run)."""
    path = join_path(output, HISTORY_FILE)
    if not path_exists(spark, path):
        return []
    return list(json.loads(read_text(spark, path))["runs"])


def write_history(spark: SparkSession, output: str, rows: Sequence[Mapping[str, Any]]) -> None:
    document = {"runs": list(rows)}
    write_text(spark, join_path(output, HISTORY_FILE), json.dumps(document, indent=1, default=str) + "\n")


def write_gate_file(spark: SparkSession, output: str, content: Mapping[str, Any]) -> str:
    path = join_path(output, GATE_FILE)
    write_text(spark, path, json.dumps(content, indent=2, default=str) + "\n")
    return path


def clear_gate_file(spark: SparkSession, output: str) -> None:
    """A run that got through retires the last tripped run's gate.json."""
    delete_path(spark, join_path(output, GATE_FILE))
