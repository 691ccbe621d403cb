"""`make run`: every registered job on the sample data, as the registry says to run it.

    python -m tools.demo --root data

The samples sit where the registry's layout puts inputs (`<root>/input/<dataset>/`, generated
by `make run`); each job then runs as a user would run it (`python -m jobs.<job>` with the
registry's arguments for that root), pipelines one after another and each pipeline in order,
so scoring finds the model training wrote.

The terminal gets a summary a person reads: each job, its time, its rows and tables (its run
report) and its dashboard; a failed job's one-line error. Everything the jobs print (Spark's
start-up warnings, the JSON log lines that EMR's step logs and CloudWatch read) goes to one
log file per run, `<root>/logs/make-run/<time>.log`, whose path is printed first and last.
The jobs themselves log as they do on EMR: only where their output goes differs.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tools.emr import registry
from tools.show_report import summarise

# A job's last word when it fails (common/cli.py, argparse): "<prog>: error: <message>".
ERROR_LINE = re.compile(r"^[\w.-]+: error: ")


@dataclass(frozen=True)
class JobRun:
    """How one job's process ended: its exit code, its wall time (Spark's start-up and stop
    included) and, when it failed, the one line that says why."""

    code: int
    seconds: float
    error: str = ""


def new_log(root: Path | str, label: str = "") -> Path:
    """A fresh log file for this run under `<root>/logs/make-run/`, named by the UTC time."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log = Path(root) / "logs" / "make-run" / f"{stamp}{label}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    return log


def run_logged(job: registry.Job, arguments: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> JobRun:
    """Run `python -m <job's module> <arguments>` with its stdout and stderr appended to `log`."""
    command = [sys.executable, "-m", job.module, *arguments]
    with log.open("a") as out:
        out.write(f"=== {datetime.now(UTC).isoformat(timespec='seconds')} {' '.join(command)}\n")
        out.flush()
        start = out.tell()
        started = time.monotonic()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
        seconds = time.monotonic() - started
        out.write(f"=== {job.name} exited {result.returncode} after {seconds:.1f} s\n")
    if result.returncode == 0:
        return JobRun(0, seconds)
    return JobRun(result.returncode, seconds, failure_line(log, start, result.returncode))


def failure_line(log: Path, start: int, code: int) -> str:
    """The job's own one-line error from its part of the log; else its last line (a crash)."""
    with log.open("rb") as text:
        text.seek(start)
        lines = [line.strip() for line in text.read().decode(errors="replace").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("===")]
    errors = [line for line in lines if ERROR_LINE.match(line)]
    return (errors or lines or [f"exit {code}, no output"])[-1]


def print_job(run: JobRun, report: Mapping, output: str) -> None:
    """The job's lines on the terminal: its run report's summary, its dashboard, its time."""
    print(summarise(report))
    print(f"  report: {output}/run_report.json")
    print(f"  dashboard: {output}/dashboard.html")
    print(f"  wall time: {run.seconds:.1f} s (the job, and Spark's start-up and stop)", flush=True)


def print_failure(job: registry.Job, run: JobRun, log: Path) -> None:
    print(f"{job.name} failed (exit {run.code}) after {run.seconds:.1f} s: {run.error}", file=sys.stderr)
    print(f"  its whole output: {log}", file=sys.stderr)


def output_root(job: registry.Job, root: str) -> Path:
    return Path(job.output[1].format(root=root))


def run_demo(root: str, jobs: Sequence[registry.Job]) -> int:
    log = new_log(root)
    print(f"make run: {len(jobs)} jobs on {root}/input; Spark's and the jobs' own output go to {log}", flush=True)
    started = time.monotonic()
    for number, job in enumerate(jobs, start=1):
        # every job draws its dashboard at the end of its run (common/dashboard)
        arguments = [*job.invocation(root=root), "--dashboard"]
        print(f"\n[{number}/{len(jobs)}] {job.name} {' '.join(arguments)}", flush=True)
        run = run_logged(job, arguments, log)
        if run.code != 0:
            print_failure(job, run, log)
            return run.code
        output = output_root(job, root)
        print_job(run, json.loads((output / "run_report.json").read_text()), str(output))
    print(f"\n{len(jobs)} jobs succeeded in {time.monotonic() - started:.0f} s; log: {log}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description="Run every registered job on the sample data.")
    parser.add_argument("--root", default="data", help="data root: inputs under <root>/input/<dataset>/")
    parser.add_argument("--job", action="append", help="run only these jobs (default: all, in pipeline order)")
    args = parser.parse_args(argv)
    jobs = [job for job in registry.in_run_order(registry.present()) if not args.job or job.name in args.job]
    try:
        return run_demo(args.root, jobs)
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
