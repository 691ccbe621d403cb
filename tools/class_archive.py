"""Build the JVM class archive (AppCDS) that local drivers map at start-up.

    python -m tools.class_archive            # once per JDK and set of jars (`make test` runs it)

A cold Spark driver spends seconds of CPU loading, parsing and verifying the same classes
from the jars on every start; the test suite starts some forty of them. Java 17 can record
the classes one JVM loaded into an archive when it exits (`-XX:ArchiveClassesAtExit`), and
any later JVM on the same JDK and classpath maps it instead (`-XX:SharedArchiveFile`, see
`common.spark.class_archive_options`). The recording JVM runs every registered job once,
in-process, on a few hundred kilobytes of generated data, so the archive holds the classes
the jobs use (Delta's MERGE, the JSON and CSV readers, MLlib), not only Spark's start-up.

The archive changes how fast classes load, never what a job computes. It is a local
optimisation: EMR's drivers keep the JVM's defaults, and `make bench` does not use it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from common.spark import class_archive
from tools import generate
from tools.emr import registry

# Small: the archive needs each code path once, not data.
SAMPLES = {
    "logs": ("logs", 200_000),
    "transactions": ("transactions", 200_000),
    "profiles": ("profiles", 40_000),
    "customers": ("customers", 100_000),
    "new_customers": ("customers", 20_000),
}
# Each iteration runs the same classes again.
FEWER_ITERATIONS = {"customer_segmentation": ("--max-iter", "3")}


def record(root: Path, archive: Path) -> None:
    """Run every job in this process's JVM, which writes `archive` of its classes at exit."""
    from common.spark import build_session

    for dataset, (kind, size) in SAMPLES.items():
        generate.generate(kind, root / "input" / dataset, size=size, seed=5, files=1)
    spark = build_session(
        "class-archive",
        {
            "spark.master": "local[2]",
            "spark.sql.shuffle.partitions": "2",
            "spark.ui.enabled": "false",
            "spark.driver.extraJavaOptions": f"-XX:ArchiveClassesAtExit={archive} -Xlog:cds*=off",
        },
    )
    for job in registry.in_run_order(registry.present()):
        module = importlib.import_module(job.module)
        module.run(spark, module.parse_args([*job.invocation(root=str(root)), *FEWER_ITERATIONS.get(job.name, ())]))
    spark.stop()


def build(archive: Path) -> int:
    """Record into a temporary file beside `archive`, then rename it: a run stopped halfway
    leaves no archive that looks complete."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="class-archive-") as root:
        command = [sys.executable, "-m", "tools.class_archive", "--record", root, str(partial)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not partial.exists():
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"class_archive: recording failed (exit {result.returncode}): {last}", file=sys.stderr)
        partial.unlink(missing_ok=True)
        return 1
    os.replace(partial, archive)
    for stale in archive.parent.glob("spark-*.jsa"):
        if stale != archive:
            stale.unlink()
    print(f"class_archive: wrote {archive} ({archive.stat().st_size // 2**20} MiB)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="class_archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", nargs=2, metavar=("ROOT", "ARCHIVE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.record:
        record(Path(args.record[0]), Path(args.record[1]))
        return 0
    archive = class_archive()
    if archive.exists():
        print(f"class_archive: {archive} is up to date")
        return 0
    return build(archive)


if __name__ == "__main__":
    sys.exit(main())
