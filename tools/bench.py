"""Benchmark each job against the mission's seed script: fixed cost and cost per GB.

    python -m tools.bench                                  # every workload, 8 MB and 1 GB, 2 rounds
    python -m tools.bench --only log_analytics --size 200MB --rounds 3
    python -m tools.bench --only log_analytics --scale-check 4GB

Both sides run the way EMR runs them: spark-submit, same master, same driver memory, same
jars, our job from the packaged zip with the registry's command line. Each workload runs at a
tiny size and a large one; in each round the two sides alternate which goes first, so neither
always gets the warmer page cache or the quieter minute. Printed per workload:

- the median wall time of seed and job at both sizes;
- the cost per GB of each side, the slope between the sizes ((t_large - t_tiny) / GB between
  them), and their ratio: what each further GB costs;
- the fixed cost gap, job - seed at the tiny size: what a run costs before its data;
- the ratio job / seed at the large size;
- the driver JVM's peak resident memory (its own, not the Python driver's).

Log analytics also runs alone on each access log format's generated logs (`--input-format
combined|alb|cloudfront`, the same sizes; the seed script reads JSON only): each format's cost
per GB is printed next to the JSON run's, with their ratio against the bar of 1.5x
(`--log-formats` picks the formats, `--log-formats ""` none).

Where a workload has a hand-written peer (tools/seed/*_peer.py), seed, peer and job each go
first in turn, and the job is printed against the peer too. For log analytics the peer has
targets (issue 34, point 6), each printed PASS or MISS: the job's cost per GB at most 1.0x the
peer's, and its time at the tiny size at most the peer's + 5 s.

`log_analytics_daily` is a day of log analytics in production: a one-day batch of the tiny size
loaded into a log root already holding 30 such days (built once per invocation, untimed, from
tools/bench_logs_history.py's day generator: returning users, late lines), each timed run on a
fresh copy of that root, against the seed script on the same batch. Target: the job at most the
seed's time + 15 s.

`--scale-check 4GB` also runs the job alone on 4 GB and compares its cost per GB (from the
tiny size) with the large size's: a plan that degrades with size shows here. Speed is measured
here, never asserted in a test. Results are also written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tools import generate, package, submit
from tools.emr import registry

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / ".cache" / "bench"
SEEDS = ROOT / "tools" / "seed"
BENCH_CONF = {"spark.ui.showConsoleProgress": "false"}
GB = 1024**3
# Share of the first batch's transactions the update batch corrects.
UPDATE_SHARE = 100
# log_analytics_daily: the days the root holds before the timed batch, its data set's name, and
# the target: the job at most the seed's time on the batch plus this many seconds.
HISTORY_DAYS = 30
DAILY_LOGS = "logs_daily"
DAILY_WORKLOAD = "log_analytics_daily"
DAILY_GAP_TARGET_S = 15.0


@dataclass(frozen=True)
class Command:
    script: Path
    args: list[str]
    packaged: bool  # ours, from the zip; the seed scripts run bare


@dataclass(frozen=True)
class Workload:
    """One job and the seed script doing the same work on the same input.

    peer: a hand-written job doing the same work plainly (tools/seed/*_peer.py), when there is
        one: what a competent engineer's first version would cost, beside the seed's floor.
    prepare: run once per input before the timed runs (untimed), e.g. the first load an
        update batch merges into; returns what the sides need (a folder).
    setup: run before each timed job run (untimed), e.g. restoring that first load.
    """

    name: str
    dataset: str
    seed: Callable[[Path, Path, Path | None], Command]
    job: Callable[[Path, Path, Path | None], Command]
    prepare: Callable[[Path, Path, Callable[[Command, Path], float]], Path] | None = None
    setup: Callable[[Path, Path | None], None] | None = None
    peer: Callable[[Path, Path, Path | None], Command] | None = None

    @property
    def sides(self) -> tuple[str, ...]:
        return ("seed", "peer", "job") if self.peer else ("seed", "job")


def ours(job_name: str, inputs: dict[str, str], output: Path, options: Sequence[str] = ()) -> Command:
    """Our job's spark-submit, with the registry's command line bound to this data."""
    job = registry.find(job_name)
    args = job.invocation(inputs=inputs, output=str(output), options=tuple(options))
    return Command(Path(job.entrypoint), args, packaged=True)


def seed_script(name: str, *args: Path | str) -> Command:
    return Command(SEEDS / name, [str(a) for a in args], packaged=False)


def update_batch(first: Path, folder: Path) -> Path:
    """Every UPDATE_SHARE-th line of the first batch again, a day later and a cent more: a
    batch of corrections to existing ids, as a daily feed brings them."""
    marker = folder / generate.COMPLETE_MARKER
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "part-00000.jsonl").open("w") as out:
        for path in sorted(first.glob("part-*")):
            with path.open() as lines:
                for number, line in enumerate(lines):
                    if number % UPDATE_SHARE:
                        continue
                    try:
                        record = json.loads(line)
                        record["timestamp"] = record["timestamp"].replace("2026-", "2027-", 1)
                        record["amount"] = f"{float(record['amount']) + 0.01:.2f}"
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue  # the generator's bad lines: not corrections
                    out.write(json.dumps(record) + "\n")
    marker.touch()
    return folder


def prepare_first_load(data: Path, out: Path, timed: Callable[[Command, Path], float]) -> Path:
    """The warehouse the update batch merges into: the first batch's load, made once."""
    warehouse = out / "first_load"
    if not (warehouse / "run_report.json").exists():
        first = data.parent / data.name.replace("update-", "")
        timed(ours("transaction_etl", {"--transactions": str(first)}, warehouse), warehouse)
    return warehouse


def restore_root(output: Path, root: Path | None) -> None:
    """A fresh copy of the prepared root for each timed job run: every run does the same work."""
    shutil.rmtree(output, ignore_errors=True)
    assert root is not None
    shutil.copytree(root, output)


def daily_logs(folder: Path, size: int, seed: int) -> Path:
    """HISTORY_DAYS daily files and the next day's, each of about `size` bytes, generated once
    with the log warehouse benchmark's day generator (70 % of a day's users seen before, 1 % of
    its lines up to 3 days late): the history in `folder/history/day=NNNN/`, the day after it in
    `folder/batch/`, the folder returned."""
    from tools import bench_logs_history

    batch = folder / "batch"
    if (folder / generate.COMPLETE_MARKER).exists():
        return batch
    print(f"generating {HISTORY_DAYS} + 1 days of {size / 1024**2:.0f} MiB of logs in {folder}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    sample, _ = bench_logs_history.batch_lines(0, bench_logs_history.parse_args(["--lines", "1000"]), [])
    line_bytes = sum(len(line) + 1 for line in sample) / len(sample)
    days = bench_logs_history.parse_args(["--lines", str(max(1, round(size / line_bytes))), "--seed", str(seed)])
    seen: list[str] = []
    for day in range(HISTORY_DAYS + 1):
        lines, new = bench_logs_history.batch_lines(day, days, seen)
        seen.extend(new)
        path = (batch if day == HISTORY_DAYS else folder / "history" / f"day={day:04d}") / "part-00000.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("\n".join(lines) + "\n")
    (folder / generate.COMPLETE_MARKER).touch()
    return batch


def prepare_log_history(data: Path, out: Path, timed: Callable[[Command, Path], float]) -> Path:
    """The log root the daily batch `data` loads into: the HISTORY_DAYS days before it loaded in
    one run. Built again by each invocation (untimed), so it is always the current job's."""
    root = out / "history_root"
    seconds = timed(ours("log_analytics", {"--input": str(data.parent / "history")}, root), root)
    print(f"  {HISTORY_DAYS} days loaded into {root} in {seconds:.1f} s (untimed)", flush=True)
    return root


def prepare_models(data: Path, out: Path, timed: Callable[[Command, Path], float]) -> Path:
    """Both sides' trained models, made once on the customers the scoring reads."""
    models = out / "models"
    if not (models / "ours" / "run_report.json").exists():
        timed(seed_script("customer_segmentation.py", "train", data, models / "seed"), models / "seed")
        train = ours("customer_segmentation", {"--input": str(data)}, models / "ours", ("--k", "5", "--seed", "1"))
        timed(train, models / "ours")
    return models


WORKLOADS: dict[str, Workload] = {
    "log_analytics": Workload(
        "log_analytics",
        "logs",
        seed=lambda data, out, _: seed_script("log_analysis.py", data, out),
        peer=lambda data, out, _: seed_script("log_analytics_peer.py", data, out),
        job=lambda data, out, _: ours("log_analytics", {"--input": str(data)}, out),
    ),
    DAILY_WORKLOAD: Workload(
        DAILY_WORKLOAD,
        DAILY_LOGS,
        seed=lambda data, out, _: seed_script("log_analysis.py", data, out),
        job=lambda data, out, _: ours("log_analytics", {"--input": str(data)}, out),
        prepare=prepare_log_history,
        setup=restore_root,
    ),
    "transaction_etl": Workload(
        "transaction_etl",
        "transactions",
        seed=lambda data, out, _: seed_script("transaction_etl.py", data, out),
        peer=lambda data, out, _: seed_script("transaction_etl_peer.py", data, out),
        job=lambda data, out, _: ours("transaction_etl", {"--transactions": str(data)}, out),
    ),
    "transaction_etl_update": Workload(
        "transaction_etl_update",
        "update-transactions",
        seed=lambda data, out, _: seed_script("transaction_etl.py", data, out),
        peer=lambda data, out, _: seed_script("transaction_etl_peer.py", data, out),
        job=lambda data, out, _: ours("transaction_etl", {"--transactions": str(data)}, out),
        prepare=prepare_first_load,
        setup=restore_root,
    ),
    "customer_segmentation": Workload(
        "customer_segmentation",
        "customers",
        seed=lambda data, out, _: seed_script("customer_segmentation.py", "train", data, out),
        job=lambda data, out, _: ours(
            "customer_segmentation", {"--input": str(data)}, out, ("--k", "5", "--seed", "1")
        ),
    ),
    "segment_customers": Workload(
        "segment_customers",
        "customers",
        seed=lambda data, out, models: seed_script(
            "customer_segmentation.py", "score", f"{models}/seed/model", data, out
        ),
        job=lambda data, out, models: ours(
            "segment_customers", {"--model": f"{models}/ours/model", "--input": str(data)}, out
        ),
        prepare=prepare_models,
    ),
}


@dataclass(frozen=True)
class PeerTargets:
    """What the job may cost against its hand-written peer: its cost per GB at most
    `cost_per_gb_ratio` times the peer's, its time at the tiny size at most the peer's plus
    `fixed_gap_s` seconds."""

    cost_per_gb_ratio: float
    fixed_gap_s: float


# Issue 34, point 6: the log warehouse's first load against the hand-written peer.
PEER_TARGETS = {"log_analytics": PeerTargets(cost_per_gb_ratio=1.0, fixed_gap_s=5.0)}


# Log analytics' access log formats: --input-format, and the generator's data set of it.
LOG_FORMATS = {"combined": "combined_logs", "alb": "alb_logs", "cloudfront": "cloudfront_logs"}
# Each format's cost per GB may be at most this many times the JSON format's.
LOG_FORMAT_BAR = 1.5


def log_format_workload(fmt: str) -> Workload:
    """Log analytics on `fmt`'s logs, timed alone (`measure(..., sides=("job",))`): the seed
    script reads JSON only, so its side is never run here."""
    return Workload(
        f"log_analytics_{fmt}",
        LOG_FORMATS[fmt],
        seed=lambda data, out, _: seed_script("log_analysis.py", data, out),
        job=lambda data, out, _: ours("log_analytics", {"--input": str(data)}, out, ("--input-format", fmt)),
    )


def parse_log_formats(text: str) -> list[str]:
    """`--log-formats combined,alb`: the formats to time ("" for none)."""
    formats = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(formats) - set(LOG_FORMATS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown format {', '.join(unknown)}: choose from {', '.join(LOG_FORMATS)}")
    return formats


def format_summary(fmt: str, tiny: Measured, large: Measured, json_per_gb: float) -> dict:
    """One access log format's figures, its cost per GB against the JSON run's."""
    job_per_gb = per_gb(tiny.job_median, large.job_median, tiny.size_bytes, large.size_bytes)
    over_json = round(job_per_gb / json_per_gb, 2) if json_per_gb > 0 else None
    return {
        "input_format": fmt,
        "tiny_mb": round(tiny.size_bytes / 1024**2, 1),
        "large_mb": round(large.size_bytes / 1024**2, 1),
        "job_tiny_s": round(tiny.job_median, 1),
        "job_large_s": round(large.job_median, 1),
        "job_cost_per_gb_s": round(job_per_gb, 1),
        "json_cost_per_gb_s": round(json_per_gb, 1),
        "over_json": over_json,
        "within_bar": over_json is not None and over_json <= LOG_FORMAT_BAR,
        "job_jvm_peak_mb_large": large.job_peak_mb,
        "runs_s": {"tiny": tiny.job, "large": large.job},
    }


def print_format_summary(row: dict) -> None:
    verdict = "within" if row["within_bar"] else "OVER"
    print(
        f"log_analytics --input-format {row['input_format']}: job {row['job_tiny_s']} s / {row['job_large_s']} s "
        f"({row['tiny_mb']:.0f} MB / {row['large_mb']:.0f} MB); cost per GB {row['job_cost_per_gb_s']} s, "
        f"JSON {row['json_cost_per_gb_s']} s (ratio {row['over_json']}, {verdict} the {LOG_FORMAT_BAR}x bar); "
        f"job JVM peak {row['job_jvm_peak_mb_large']} MB",
        flush=True,
    )


def dataset(name: str, size: int, seed: int = 11) -> Path:
    """The cached benchmark input, generated once per (data set, size)."""
    folder = BENCH_DIR / "data" / f"{name}-{size}"
    if name == DAILY_LOGS:
        return daily_logs(folder, size, seed)
    if name.startswith("update-"):
        return update_batch(dataset(name.removeprefix("update-"), size, seed), folder)
    if not (folder / generate.COMPLETE_MARKER).exists():
        print(f"generating {size / 1024**2:.0f} MiB of {name} in {folder}", flush=True)
        generate.generate(name, folder, size, seed)
    return folder


def input_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def jvm_peak_kb(pid: int) -> int:
    """The largest high-water mark of resident memory among `pid` and the processes below it
    that are java (spark-submit's script execs the driver JVM in its own process)."""
    peak = 0
    for child in [pid, *descendants(pid)]:
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() != "java":
                continue
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak


@dataclass
class Timing:
    seconds: float
    jvm_peak_mb: int


def run_submit(command: Command, output: Path, archive: Path, entrypoints: Path, driver_memory: str) -> Timing:
    """Wall time and the driver JVM's peak memory of one spark-submit run into `output`; a
    failed run stops the benchmark with its log tail."""
    script = entrypoints / command.script.name if command.packaged else command.script
    cmd = submit.command(
        script, command.args, archive if command.packaged else None, driver_memory=driver_memory, conf=BENCH_CONF
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        cmd, cwd=BENCH_DIR, env=submit.environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = [0]

    def watch() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], jvm_peak_kb(process.pid))
            time.sleep(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    log, _ = process.communicate()
    elapsed = time.perf_counter() - started
    watcher.join()
    if process.returncode != 0:
        tail = "\n".join(log.splitlines()[-15:])
        raise SystemExit(f"bench: {script.name} failed (exit {process.returncode}):\n{tail}")
    return Timing(elapsed, peak[0] // 1024)


@dataclass
class Measured:
    size_bytes: int
    seed: list[float]
    job: list[float]
    job_peak_mb: int
    peer: list[float] = field(default_factory=list)

    @property
    def peer_median(self) -> float | None:
        return statistics.median(self.peer) if self.peer else None

    @property
    def seed_median(self) -> float:
        return statistics.median(self.seed)

    @property
    def job_median(self) -> float:
        return statistics.median(self.job)


class Bench:
    def __init__(self, rounds: int, driver_memory: str) -> None:
        self.rounds = rounds
        self.driver_memory = driver_memory
        dist = BENCH_DIR / "dist"
        shutil.rmtree(dist, ignore_errors=True)
        package.main(["--dist", str(dist)])
        self.archive = dist / f"spark_jobs-{package.version()}.zip"
        self.entrypoints = dist / "entrypoints"

    def timed(self, command: Command, output: Path) -> float:
        shutil.rmtree(output, ignore_errors=True)
        return run_submit(command, output, self.archive, self.entrypoints, self.driver_memory).seconds

    def measure(self, workload: Workload, size: int, sides: Sequence[str] | None = None) -> Measured:
        data = dataset(workload.dataset, size)
        out = BENCH_DIR / "out" / workload.name / str(size)
        state = workload.prepare(data, out, self.timed) if workload.prepare else None
        measured = Measured(input_bytes(data), [], [], 0)
        sides = list(sides or workload.sides)
        for round_number in range(self.rounds):
            # Each side goes first in turn (with two sides: alternately).
            shift = round_number % len(sides)
            order = sides[shift:] + sides[:shift]
            for side in order:
                output = out / side
                shutil.rmtree(output, ignore_errors=True)
                if side == "job" and workload.setup:
                    workload.setup(output, state)
                command = getattr(workload, side)(data, output, state)
                timing = run_submit(command, output, self.archive, self.entrypoints, self.driver_memory)
                getattr(measured, side).append(timing.seconds)
                if side == "job":
                    measured.job_peak_mb = max(measured.job_peak_mb, timing.jvm_peak_mb)
                print(
                    f"  {workload.name} {size / 1024**2:.0f} MiB round {round_number + 1} {side}: "
                    f"{timing.seconds:.1f} s, JVM peak {timing.jvm_peak_mb} MB",
                    flush=True,
                )
        return measured


def per_gb(tiny: float, large: float, tiny_bytes: int, large_bytes: int) -> float:
    """Seconds per GB between two sizes (the generator writes files of ~8 MB at the least: the
    sizes must differ by more than that)."""
    if large_bytes <= tiny_bytes:
        raise SystemExit(f"bench: the large input ({large_bytes:,} bytes) is not larger than the tiny one")
    return (large - tiny) / ((large_bytes - tiny_bytes) / GB)


def target(value: float | None, at_most: float) -> dict:
    """One figure against its bound (None, e.g. a ratio over a slope that came out <= 0: MISS)."""
    return {"value": value, "at_most": at_most, "ok": value is not None and value <= at_most}


def print_targets(row: dict) -> None:
    for name, verdict in row.get("targets", {}).items():
        print(
            f"{'PASS' if verdict['ok'] else 'MISS'} {row['workload']} {name}: {verdict['value']} "
            f"(target <= {verdict['at_most']})",
            flush=True,
        )


def summarise(name: str, tiny: Measured, large: Measured) -> dict:
    seed_per_gb = per_gb(tiny.seed_median, large.seed_median, tiny.size_bytes, large.size_bytes)
    job_per_gb = per_gb(tiny.job_median, large.job_median, tiny.size_bytes, large.size_bytes)
    return {
        "workload": name,
        "tiny_mb": round(tiny.size_bytes / 1024**2, 1),
        "large_mb": round(large.size_bytes / 1024**2, 1),
        "seed_tiny_s": round(tiny.seed_median, 1),
        "job_tiny_s": round(tiny.job_median, 1),
        "seed_large_s": round(large.seed_median, 1),
        "job_large_s": round(large.job_median, 1),
        "seed_cost_per_gb_s": round(seed_per_gb, 1),
        "job_cost_per_gb_s": round(job_per_gb, 1),
        "cost_per_gb_ratio": round(job_per_gb / seed_per_gb, 2) if seed_per_gb > 0 else None,
        "fixed_cost_gap_s": round(tiny.job_median - tiny.seed_median, 1),
        "large_ratio": round(large.job_median / large.seed_median, 2),
        "job_jvm_peak_mb_large": large.job_peak_mb,
        "runs_s": {"tiny": {"seed": tiny.seed, "job": tiny.job}, "large": {"seed": large.seed, "job": large.job}},
        **peer_summary(tiny, large, job_per_gb, PEER_TARGETS.get(name)),
    }


def peer_summary(tiny: Measured, large: Measured, job_per_gb: float, targets: PeerTargets | None = None) -> dict:
    """The hand-written peer's figures and the job against them (none without a peer), with
    the workload's targets against the peer when it has some."""
    if tiny.peer_median is None or large.peer_median is None:
        return {}
    peer_per_gb = per_gb(tiny.peer_median, large.peer_median, tiny.size_bytes, large.size_bytes)
    row = {
        "peer_tiny_s": round(tiny.peer_median, 1),
        "peer_large_s": round(large.peer_median, 1),
        "peer_cost_per_gb_s": round(peer_per_gb, 1),
        "job_over_peer_cost_per_gb": round(job_per_gb / peer_per_gb, 2) if peer_per_gb > 0 else None,
        "fixed_cost_gap_over_peer_s": round(tiny.job_median - tiny.peer_median, 1),
        "job_over_peer_large": round(large.job_median / large.peer_median, 2),
        "peer_runs_s": {"tiny": tiny.peer, "large": large.peer},
    }
    if targets is not None:
        row["targets"] = {
            "job_over_peer_cost_per_gb": target(row["job_over_peer_cost_per_gb"], targets.cost_per_gb_ratio),
            "fixed_cost_gap_over_peer_s": target(row["fixed_cost_gap_over_peer_s"], targets.fixed_gap_s),
        }
    return row


def daily_summary(name: str, measured: Measured, history_bytes: int) -> dict:
    """The daily batch into a root of HISTORY_DAYS days against the seed on that batch."""
    gap = round(measured.job_median - measured.seed_median, 1)
    return {
        "workload": name,
        "history_days": HISTORY_DAYS,
        "history_mb": round(history_bytes / 1024**2, 1),
        "batch_mb": round(measured.size_bytes / 1024**2, 1),
        "seed_s": round(measured.seed_median, 1),
        "job_s": round(measured.job_median, 1),
        "gap_over_seed_s": gap,
        "job_jvm_peak_mb": measured.job_peak_mb,
        "runs_s": {"seed": measured.seed, "job": measured.job},
        "targets": {"gap_over_seed_s": target(gap, DAILY_GAP_TARGET_S)},
    }


def print_daily_summary(row: dict) -> None:
    print(
        f"{row['workload']}: a {row['batch_mb']:.0f} MB day into a root of {row['history_days']} days "
        f"({row['history_mb']:.0f} MB of input): job {row['job_s']} s, seed {row['seed_s']} s on the same day; "
        f"gap {row['gap_over_seed_s']} s; job JVM peak {row['job_jvm_peak_mb']} MB",
        flush=True,
    )
    print_targets(row)


def print_summary(row: dict) -> None:
    print(
        f"{row['workload']}: seed {row['seed_tiny_s']} s / {row['seed_large_s']} s, "
        f"job {row['job_tiny_s']} s / {row['job_large_s']} s ({row['tiny_mb']:.0f} MB / {row['large_mb']:.0f} MB); "
        f"cost per GB seed {row['seed_cost_per_gb_s']} s, job {row['job_cost_per_gb_s']} s "
        f"(ratio {row['cost_per_gb_ratio']}); fixed cost gap {row['fixed_cost_gap_s']} s; "
        f"ratio at {row['large_mb']:.0f} MB {row['large_ratio']}; job JVM peak {row['job_jvm_peak_mb_large']} MB",
        flush=True,
    )
    if "peer_tiny_s" in row:
        print(
            f"{row['workload']}: peer {row['peer_tiny_s']} s / {row['peer_large_s']} s, cost per GB "
            f"{row['peer_cost_per_gb_s']} s; job over peer: cost per GB {row['job_over_peer_cost_per_gb']}, "
            f"fixed cost gap {row['fixed_cost_gap_over_peer_s']} s, at {row['large_mb']:.0f} MB "
            f"{row['job_over_peer_large']}",
            flush=True,
        )
        print_targets(row)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description="Benchmark the jobs against the seed scripts.")
    parser.add_argument("--size", type=generate.parse_size, default=generate.parse_size("1GB"), help="large size")
    parser.add_argument("--tiny-size", type=generate.parse_size, default=generate.parse_size("8MB"))
    parser.add_argument(
        "--segmentation-size",
        type=generate.parse_size,
        default=generate.parse_size("100MB"),
        help="large size of the customer workloads (KMeans on 2 cores: ~2.3 M customers per 100 MB)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append", help="run only these workloads")
    parser.add_argument("--scale-check", type=generate.parse_size, help="also run log analytics alone at this size")
    parser.add_argument(
        "--log-formats",
        type=parse_log_formats,
        default=list(LOG_FORMATS),
        help='access log formats log analytics is also timed on, comma-separated (default: all; "" for none)',
    )
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args(argv)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    bench = Bench(args.rounds, args.driver_memory)
    results = []
    for name in args.only or list(WORKLOADS):
        workload = WORKLOADS[name]
        if name == DAILY_WORKLOAD:
            history = dataset(DAILY_LOGS, args.tiny_size).parent / "history"
            daily = daily_summary(name, bench.measure(workload, args.tiny_size), input_bytes(history))
            results.append(daily)
            print_daily_summary(daily)
            continue
        large = args.segmentation_size if workload.dataset == "customers" else args.size
        tiny = bench.measure(workload, args.tiny_size)
        row = summarise(name, tiny, bench.measure(workload, large))
        results.append(row)
        print_summary(row)
        if name == "log_analytics" and args.log_formats:
            row["input_formats"] = []
            for fmt in args.log_formats:
                by_format = log_format_workload(fmt)
                tiny_fmt = bench.measure(by_format, args.tiny_size, sides=("job",))
                large_fmt = bench.measure(by_format, large, sides=("job",))
                format_row = format_summary(fmt, tiny_fmt, large_fmt, row["job_cost_per_gb_s"])
                row["input_formats"].append(format_row)
                print_format_summary(format_row)
        if args.scale_check and name == "log_analytics":
            scaled = bench.measure(workload, args.scale_check, sides=("job",))
            scaled_per_gb = per_gb(tiny.job_median, scaled.job_median, tiny.size_bytes, scaled.size_bytes)
            row["scale_check"] = {
                "size_mb": round(scaled.size_bytes / 1024**2, 1),
                "job_s": round(scaled.job_median, 1),
                "job_cost_per_gb_s": round(scaled_per_gb, 1),
                "against_large": round(scaled_per_gb / row["job_cost_per_gb_s"], 2),
                "job_jvm_peak_mb": scaled.job_peak_mb,
            }
            print(f"log_analytics scale check: {json.dumps(row['scale_check'])}", flush=True)
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {BENCH_DIR / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
