"""Benchmark each job against the mission's seed script on the same generated data.

    python -m tools.bench --size 1GB --rounds 3            # every comparison
    python -m tools.bench --only log_analytics --size 200MB

Both sides run the way EMR runs them: spark-submit, same master, same driver memory, same
jars, our job from the packaged zip. Rounds alternate which side goes first, so neither
always gets the warmer page cache. Printed: median wall time of each side, input throughput
in MB/s, and the ratio job / seed (lower is better). Results are also written as JSON.
Speed is measured here, never asserted in a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools import bench_segmentation, generate, package, submit
from tools.emr import registry

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / ".cache" / "bench"
BENCH_CONF = {"spark.ui.showConsoleProgress": "false"}


@dataclass(frozen=True)
class Comparison:
    """Our job and the seed script doing the same workload on the same input."""

    dataset: str
    seed_script: Path
    seed_args: Callable[[Path, Path], list[str]]
    job: str
    input_flag: str  # the job's input the data set is bound to (the registry has the rest)

    def job_args(self, data: Path, out: Path) -> list[str]:
        """The job's command line from the registry, on this data, with default options."""
        return registry.find(self.job).invocation(inputs={self.input_flag: str(data)}, output=str(out), options=())


COMPARISONS: dict[str, Comparison] = {
    "log_analytics": Comparison(
        dataset="logs",
        seed_script=ROOT / "tools" / "seed" / "log_analysis.py",
        seed_args=lambda data, out: [str(data), str(out)],
        job="log_analytics",
        input_flag="--input",
    ),
    "transaction_etl": Comparison(
        dataset="transactions",
        seed_script=ROOT / "tools" / "seed" / "transaction_etl.py",
        seed_args=lambda data, out: [str(data), str(out)],
        job="transaction_etl",
        input_flag="--transactions",
    ),
}


def dataset(name: str, size: int, seed: int = 11) -> Path:
    """The cached benchmark input, generated once per (data set, size)."""
    folder = BENCH_DIR / "data" / f"{name}-{size}"
    if not (folder / generate.COMPLETE_MARKER).exists():
        print(f"generating {size / 1024**2:.0f} MiB of {name} in {folder}", flush=True)
        generate.generate(name, folder, size, seed)
    return folder


def input_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def timed_submit(script: Path, args: list[str], archive: Path | None, driver_memory: str, output: Path) -> float:
    """Wall time of one spark-submit run into a fresh `output` (every run is a first load, the
    ETL's MERGE included); a failed run stops the benchmark with its log tail."""
    shutil.rmtree(output, ignore_errors=True)
    cmd = submit.command(script, args, archive, driver_memory=driver_memory, conf=BENCH_CONF)
    started = time.perf_counter()
    result = submit.run(cmd, cwd=BENCH_DIR)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise SystemExit(f"bench: {script.name} failed (exit {result.returncode}):\n{tail}")
    return elapsed


def compare(name: str, size: int, rounds: int, driver_memory: str, archive: Path, entrypoints: Path) -> dict:
    spec = COMPARISONS[name]
    data = dataset(spec.dataset, size)
    megabytes = input_bytes(data) / 1024**2
    out = BENCH_DIR / "out" / name
    seed_times: list[float] = []
    job_times: list[float] = []
    for round_number in range(rounds):
        sides = [
            (
                "seed",
                lambda: timed_submit(
                    spec.seed_script, spec.seed_args(data, out / "seed"), None, driver_memory, out / "seed"
                ),
            ),
            (
                "job",
                lambda: timed_submit(
                    entrypoints / f"{spec.job}.py",
                    spec.job_args(data, out / "job"),
                    archive,
                    driver_memory,
                    out / "job",
                ),
            ),
        ]
        if round_number % 2:
            sides.reverse()
        for side, run in sides:
            seconds = run()
            (seed_times if side == "seed" else job_times).append(seconds)
            print(f"  {name} round {round_number + 1} {side}: {seconds:.1f}s", flush=True)
    seed_median, job_median = statistics.median(seed_times), statistics.median(job_times)
    return {
        "comparison": name,
        "input_mb": round(megabytes, 1),
        "rounds": rounds,
        "seed_median_s": round(seed_median, 1),
        "job_median_s": round(job_median, 1),
        "seed_mb_per_s": round(megabytes / seed_median, 1),
        "job_mb_per_s": round(megabytes / job_median, 1),
        "ratio_job_over_seed": round(job_median / seed_median, 2),
        "seed_times_s": [round(t, 1) for t in seed_times],
        "job_times_s": [round(t, 1) for t in job_times],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description="Benchmark the jobs against the seed scripts.")
    parser.add_argument("--size", type=generate.parse_size, default=generate.parse_size("1GB"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=sorted(COMPARISONS), action="append", help="run only these comparisons")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument(
        "--customers", type=int, default=1_000_000, help="rows for the segmentation benchmark (0: skip it)"
    )
    args = parser.parse_args(argv)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    dist = BENCH_DIR / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    package.main(["--dist", str(dist)])
    archive, entrypoints = dist / f"spark_jobs-{package.version()}.zip", dist / "entrypoints"
    results = []
    for name in args.only or sorted(COMPARISONS):
        result = compare(name, args.size, args.rounds, args.driver_memory, archive, entrypoints)
        results.append(result)
        print(
            f"{name}: {result['input_mb']:.0f} MB, seed {result['seed_median_s']}s ({result['seed_mb_per_s']} MB/s), "
            f"job {result['job_median_s']}s ({result['job_mb_per_s']} MB/s), "
            f"ratio job/seed {result['ratio_job_over_seed']}",
            flush=True,
        )
    if args.customers and not args.only:
        # Training has no seed-script equivalent worth racing: time it and the scoring.
        segmentation = bench_segmentation.run(args.customers)
        results.append({"comparison": "customer_segmentation", **segmentation})
        print(f"customer_segmentation: {json.dumps(segmentation)}", flush=True)
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {BENCH_DIR / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
