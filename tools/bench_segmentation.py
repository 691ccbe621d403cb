"""Customer segmentation benchmark: training time for one k and for a k-range, and scoring
throughput, on generated customers. `make bench` calls `run`; it also runs alone:

    python -m tools.bench_segmentation --rows 1000000

Both jobs run in-process, end to end (read, classify, validate, train or score, write,
report), on one local session; the figures come from their run reports plus wall clocks.
Scoring is measured three ways: the batch job end to end, the model alone over the customers
(Spark's `noop` sink: no validation, no write), and the plain-Python scorer per record (what
one Lambda invocation costs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from common.classify import classify_lines
from common.lines import read_csv_lines
from common.rules.customers import CUSTOMER_CONTRACT, to_customers
from common.segment_scorer import load_model
from common.segmentation import load_model as load_spark_model
from common.spark import CacheScope, build_session
from jobs import customer_segmentation, segment_customers
from schemas.customers import RAW_CUSTOMER
from tools import generate
from tools.emr import registry

ROWS_PER_FILE = 250_000
DEFAULT_K_RANGE = "3-7"
PYTHON_SCORER_RECORDS = 50_000


def generated_customers(root: Path, rows: int, seed: int) -> Path:
    """`rows` generated customer lines (bad ones included) under `root`, reused when present."""
    files = max(1, -(-rows // ROWS_PER_FILE))
    folder = root / f"customers-{rows}-seed{seed}"
    if not (folder / generate.COMPLETE_MARKER).exists():
        generate.generate("customers", folder, generate.customer_file_size(rows // files) * files, seed, files)
    return folder


def _timed_job(job: Any, spark: Any, argv: list[str]) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    report = job.run(spark, job.parse_args(argv))
    return report, round(time.perf_counter() - start, 2)


def run(rows: int, k_range: str = DEFAULT_K_RANGE, work_dir: Path | None = None) -> dict[str, Any]:
    """Measure training (k=5, then `k_range`) and scoring on `rows` generated customers."""
    root = work_dir or Path(tempfile.mkdtemp(prefix="bench_segmentation-"))
    train_input = generated_customers(root, rows, seed=21)
    score_input = generated_customers(root, rows, seed=22)
    started_here = SparkSession.getActiveSession() is None
    spark = build_session("bench_segmentation")
    try:
        return _measure(spark, train_input, score_input, root / "out", rows, k_range)
    finally:
        if started_here:
            spark.stop()


def _measure(spark: SparkSession, train_input: Path, score_input: Path, out: Path, rows: int, k_range: str) -> dict:
    figures: dict[str, Any] = {"rows": rows, "cores": spark.sparkContext.defaultParallelism}

    train = registry.find("customer_segmentation")
    argv = train.invocation(inputs={"--input": str(train_input)}, output=str(out / "k5"), options=())
    report, wall = _timed_job(customer_segmentation, spark, argv)
    figures["train_k5"] = {
        "job_seconds": wall,
        "training_seconds": report["metrics"]["model"]["training_seconds"],
        "silhouette": report["metrics"]["model"]["silhouette_by_k"]["5"],
        "rows_valid": report["rows_valid"],
    }

    argv = train.invocation(
        inputs={"--input": str(train_input)}, output=str(out / "range"), options=("--k-range", k_range)
    )
    report, wall = _timed_job(customer_segmentation, spark, argv)
    model = report["metrics"]["model"]
    figures["train_k_range"] = {
        "k_range": k_range,
        "job_seconds": wall,
        "training_seconds": model["training_seconds"],
        "training_seconds_by_k": model["training_seconds_by_k"],
        "silhouette_by_k": model["silhouette_by_k"],
        "chosen_k": model["k"],
    }

    model_path = str(out / "k5" / "model")
    inputs = {"--model": model_path, "--input": str(score_input)}
    argv = registry.find("segment_customers").invocation(inputs=inputs, output=str(out / "scored"), options=())
    report, wall = _timed_job(segment_customers, spark, argv)
    figures["score_job"] = {"job_seconds": wall, "rows_per_second": round(report["rows_read"] / wall)}

    spark_model, _ = load_spark_model(spark, model_path)
    with CacheScope() as cache:
        customers = cache(
            read_csv_lines(spark, str(score_input), RAW_CUSTOMER).transform(classify_lines, CUSTOMER_CONTRACT)
        )
        customers = customers.transform(to_customers)
        valid = customers.count()
        start = time.perf_counter()
        spark_model.transform(customers).select("segment").write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - start
    figures["score_model_only"] = {"seconds": round(seconds, 2), "rows_per_second": round(valid / seconds)}

    scorer = load_model(out / "k5" / "model.json")
    sample = [
        {
            "age": 20 + i % 60,
            "gender": "Female",
            "marital_status": "Married",
            "annual_income": 1000.0 * (i % 150),
            "spending_score": 1 + i % 100,
        }
        for i in range(PYTHON_SCORER_RECORDS)
    ]
    start = time.perf_counter()
    for record in sample:
        scorer.segment(record)
    seconds = time.perf_counter() - start
    figures["score_python_per_record"] = {
        "microseconds": round(1e6 * seconds / len(sample), 1),
        "records_per_second": round(len(sample) / seconds),
    }
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_segmentation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="generated customers per data set")
    parser.add_argument("--k-range", default=DEFAULT_K_RANGE)
    parser.add_argument("--work-dir", type=Path, help="where data and outputs go (default: a temp folder)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.rows, args.k_range, args.work_dir), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
