"""What the transaction ETL's data plane costs, step by step, against the seed script.

    python -m tools.bench_floor                       # 8 MB and 1 GB, 2 rounds
    python -m tools.bench_floor --size 200MB --rounds 3

`make bench` times the whole job; this times the work its contract cannot skip, the job's own
transforms without Delta, expectation suites, the report or the Redshift export, each step
ending in Spark's `noop` sink or in plain Parquet. The steps are cumulative:

- `parse`: the lines read as text and parsed against the schema (raw line, file, exact digits);
- `classify`: + the row rules, the classification cached and counted by reason (as the job);
- `dedup`: + the latest version per transaction_id (the job's window);
- `parquet`: + the quarantine, silver partitioned by date and gold written as plain Parquet;
- `delta`: the same three tables written as Delta tables.

Each step and the seed run under spark-submit like `make bench` (same master, driver memory
and jars), alternating order each round; printed: medians at both sizes and the cost per GB
of each (the slope between the sizes), and its ratio to the seed's. A target below a step's
cost per GB needs a cheaper plan for that step, not a leaner job around it.

Submitted by the driver as `spark-submit --py-files <zip> tools/bench_floor.py plan <step>
<input> <output>`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

STEPS = ("parse", "classify", "dedup", "parquet", "delta")


def run_plan(step: str, source: str, output: str) -> None:
    """The ETL's transforms up to `step` (see the module docstring), in a spark-submit driver."""
    from common.classify import classify_lines, count_by_reason, quarantined_rows
    from common.lines import read_json_lines
    from common.rules.transactions import EXACT_NUMBER_FIELDS, TRANSACTION_CONTRACT
    from common.spark import build_session
    from jobs.transaction_etl import PARTITION, daily_user_totals, latest_transactions, to_transactions
    from schemas.transactions import RAW_TRANSACTION

    spark = build_session("bench_floor")
    lines = read_json_lines(spark, source, RAW_TRANSACTION, exact_numbers=EXACT_NUMBER_FIELDS)
    if step == "parse":
        lines.write.format("noop").mode("overwrite").save()
        return
    classified = classify_lines(lines, TRANSACTION_CONTRACT).persist()
    count_by_reason(classified)
    if step == "classify":
        return
    rows = to_transactions(classified, "floor", datetime.now(UTC)).transform(latest_transactions)
    if step == "dedup":
        rows.write.format("noop").mode("overwrite").save()
        return
    fmt = "parquet" if step == "parquet" else "delta"
    quarantined_rows(classified).write.format(fmt).mode("overwrite").save(f"{output}/quarantine")
    # What optimized writes do: the rows of a date together, one file per date.
    rows.repartition(PARTITION).write.format(fmt).mode("overwrite").partitionBy(PARTITION).save(f"{output}/silver")
    silver = spark.read.format(fmt).load(f"{output}/silver")
    daily_user_totals(silver).write.format(fmt).mode("overwrite").partitionBy(PARTITION).save(f"{output}/gold")


def main(argv: Sequence[str] | None = None) -> int:
    from tools import bench, generate

    parser = argparse.ArgumentParser(prog="bench_floor", description="The ETL's data plane, step by step.")
    parser.add_argument("--size", type=generate.parse_size, default=generate.parse_size("1GB"), help="large size")
    parser.add_argument("--tiny-size", type=generate.parse_size, default=generate.parse_size("8MB"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of {', '.join(STEPS)}")
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s]
    if unknown := sorted(set(steps) - set(STEPS)):
        parser.error(f"unknown steps: {', '.join(unknown)}")

    archive = bench.Bench(args.rounds, args.driver_memory).archive  # builds the artifact
    here = Path(__file__).resolve().parent
    out = bench.BENCH_DIR / "out" / "floor"
    sides = ["seed", *steps]
    times: dict[str, dict[str, list[float]]] = {side: {"tiny": [], "large": []} for side in sides}
    sizes = {"tiny": args.tiny_size, "large": args.size}
    data = {name: bench.dataset("transactions", size) for name, size in sizes.items()}
    for round_number in range(args.rounds):
        for name in sizes:
            for side in sides if round_number % 2 == 0 else sides[::-1]:
                target = out / side
                shutil.rmtree(target, ignore_errors=True)  # each run writes new tables, as measured
                if side == "seed":
                    command = bench.seed_script("transaction_etl.py", data[name], target)
                else:
                    command = bench.Command(Path(__file__), ["plan", side, str(data[name]), str(target)], packaged=True)
                timing = bench.run_submit(command, target, archive, here, args.driver_memory)
                times[side][name].append(timing.seconds)
                print(f"  round {round_number + 1} {name} {side}: {timing.seconds:.1f} s", flush=True)

    tiny_bytes, large_bytes = (bench.input_bytes(data[name]) for name in sizes)
    rows = []
    for side in sides:
        tiny, large = (statistics.median(times[side][name]) for name in sizes)
        rows.append(
            {
                "step": side,
                "tiny_s": tiny,
                "large_s": large,
                "per_gb_s": bench.per_gb(tiny, large, tiny_bytes, large_bytes),
            }
        )
    seed_per_gb = rows[0]["per_gb_s"]
    print(f"{'step':10s} {'tiny s':>7s} {'large s':>8s} {'per GB s':>9s} {'x seed':>7s}")
    for row in rows:
        row["per_gb_ratio"] = round(row["per_gb_s"] / seed_per_gb, 2)
        figures = f"{row['tiny_s']:7.1f} {row['large_s']:8.1f} {row['per_gb_s']:9.1f} {row['per_gb_ratio']:7.2f}"
        print(f"{row['step']:10s} {figures}")
    (bench.BENCH_DIR / "floor.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["plan"]:
        run_plan(*sys.argv[2:5])
        sys.exit(0)
    sys.exit(main())
