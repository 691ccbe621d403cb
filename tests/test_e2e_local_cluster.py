"""The shipped artifact on more than one process, like EMR nodes.

`spark-submit --master local-cluster[2,1,1024] --py-files dist/<zip> entrypoints/<job>.py`
starts a standalone master, two workers and two executor JVMs (each with its own Python
workers when the job needs them), from an empty directory with nothing of the repo on
sys.path. Each job runs on generated data and its tables must equal a local-mode run's.
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession

from common.tables import read_table
from tests.golden import assert_table_equals
from tests.submit import spark_submit
from tools import generate, package
from tools.emr import registry

pytestmark = pytest.mark.slow

MASTER = "local-cluster[2,1,1024]"
# Start only once both executors are registered, so both take part.
WAIT_FOR_EXECUTORS = {
    "spark.scheduler.minRegisteredResourcesRatio": "1.0",
    "spark.scheduler.maxRegisteredResourcesWaitingTime": "300s",
}


def log_analytics_args(data: Path, output: Path) -> list[str]:
    logs = data / "logs"
    if not logs.exists():
        generate.generate("logs", logs, size=250_000, seed=11, files=2)
    # 6-hour windows hold enough events for the anomaly detector to score them
    return registry.find("log_analytics").invocation(
        inputs={"--input": str(logs)},
        output=str(output),
        options=("--window-minutes", "360", "--min-window-events", "5"),
    )


def transaction_etl_args(data: Path, output: Path) -> list[str]:
    transactions, profiles = data / "transactions", data / "profiles"
    if not transactions.exists():
        generate.generate("transactions", transactions, size=300_000, seed=11, files=2)
        generate.generate("profiles", profiles, size=60_000, seed=11, files=1)
    inputs = {"--transactions": str(transactions), "--profiles": str(profiles)}
    return registry.find("transaction_etl").invocation(inputs=inputs, output=str(output))


def customers(data: Path) -> Path:
    folder = data / "customers"
    if not folder.exists():
        generate.generate("customers", folder, size=200_000, seed=11, files=2)
    return folder


def customer_segmentation_args(data: Path, output: Path) -> list[str]:
    return registry.find("customer_segmentation").invocation(
        inputs={"--input": str(customers(data))},
        output=str(output),
        options=("--k", "4", "--seed", "3", "--max-iter", "10"),
    )


def segment_customers_args(data: Path, output: Path) -> list[str]:
    """Scores with a model trained once in-process (training has its own run above)."""
    model_run = data / "trained"
    if not (model_run / "model").exists():
        from jobs import customer_segmentation

        spark = SparkSession.getActiveSession()
        customer_segmentation.run(spark, customer_segmentation.parse_args(customer_segmentation_args(data, model_run)))
    inputs = {"--model": str(model_run / "model"), "--input": str(customers(data))}
    return registry.find("segment_customers").invocation(inputs=inputs, output=str(output))


def maintain_tables_args(data: Path, output: Path) -> list[str]:
    """Maintains a warehouse (under `output`, so the tables are compared) that the ETL loaded
    in-process from two batches, so there are small files to compact. The warehouse is loaded
    once; each run maintains a copy of it."""
    from jobs import transaction_etl

    loaded, warehouse = data / "maintenance-warehouse", output / "warehouse"
    if not (loaded / "transactions").exists():
        spark = SparkSession.getActiveSession()
        for half, seed in (("a", 12), ("b", 13)):
            folder = data / f"maintenance-{half}"
            if not folder.exists():
                generate.generate("transactions", folder, size=150_000, seed=seed, files=1)
            inputs = {"--transactions": str(folder)}
            etl = registry.find("transaction_etl").invocation(inputs=inputs, output=str(loaded))
            transaction_etl.run(spark, transaction_etl.parse_args(etl))
    if not warehouse.exists():
        shutil.copytree(loaded, warehouse)
    return registry.find("maintain_tables").invocation(inputs={"--warehouse": str(warehouse)}, output=str(output))


# Job name -> (data folder, output folder) -> its arguments on small generated data, bound
# through the registry's invocation so they are the job's real command line.
# Every job in jobs/ needs one: test_every_job_has_a_multi_process_run says so.
RUNS: dict[str, Callable[[Path, Path], list[str]]] = {
    "log_analytics": log_analytics_args,
    "transaction_etl": transaction_etl_args,
    "customer_segmentation": customer_segmentation_args,
    "segment_customers": segment_customers_args,
    "maintain_tables": maintain_tables_args,
}
# Columns that record when (and by which run) a run happened, not what it computed: the ETL's
# ingestion time, the log ledger's run id and update time.
RUN_STAMPS = ("ingested_at", "run_id", "updated_at")


def test_every_job_has_a_multi_process_run() -> None:
    # one run per job module (maintain_tables serves two pipelines: its transaction warehouse run)
    assert sorted(RUNS) == sorted({job.reports_as for job in registry.present()})


@pytest.fixture(scope="session")
def spark_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pip package's bin/ and jars/ under a temporary SPARK_HOME: local-cluster workers
    write their executors' folders to $SPARK_HOME/work, which must not be the shared venv.
    Session-scoped, not module-scoped, so the runs may spread over `make test`'s workers."""
    home = tmp_path_factory.mktemp("spark-home")
    installed = Path(pyspark.__file__).parent
    for name in ("bin", "jars"):
        (home / name).symlink_to(installed / name)
    return home


def delta_tables(output: Path) -> list[str]:
    """The Delta tables under `output`, as paths relative to it (one level down, or two for a
    job whose output holds a warehouse)."""
    logs = [*output.glob("*/_delta_log"), *output.glob("*/*/_delta_log")]
    return sorted(str(p.parent.relative_to(output)) for p in logs)


@pytest.mark.parametrize("job", [j for j in registry.present() if j.name in RUNS], ids=lambda j: j.name)
def test_local_cluster_run_equals_local_mode(
    spark: SparkSession, dist: Path, spark_home: Path, tmp_path: Path, job: registry.Job
) -> None:
    data, workdir = tmp_path / "data", tmp_path / "empty"
    workdir.mkdir()
    cluster_out, local_out = tmp_path / "cluster", tmp_path / "local"
    cluster_args = RUNS[job.name](data, cluster_out)
    apps_before = set((spark_home / "work").glob("app-*"))

    result = spark_submit(
        dist,
        job.name,
        cluster_args,
        cwd=workdir,
        master=MASTER,
        conf=WAIT_FOR_EXECUTORS,
        extra_env={"SPARK_HOME": str(spark_home)},
        timeout=1800,  # five JVMs on a shared two-core machine can be slow; ~3 min when idle
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    # ran from an empty folder and left nothing in it but Spark's own empty default warehouse
    left = [p for p in workdir.iterdir() if not (p.name == "spark-warehouse" and not any(p.iterdir()))]
    assert left == []

    # Two executor JVMs, on two workers, both ran tasks.
    [app] = set((spark_home / "work").glob("app-*")) - apps_before
    executors = sorted(app.glob("*/stderr"))
    assert len(executors) == 2
    assert all("Running task" in log.read_text() for log in executors), "an executor ran no task"

    module = importlib.import_module(job.module)
    module.run(spark, module.parse_args(RUNS[job.name](data, local_out)))

    tables = delta_tables(local_out)
    assert tables and delta_tables(cluster_out) == tables
    for table in tables:
        assert_table_equals(
            read_table(spark, str(cluster_out / table), "delta").drop(*RUN_STAMPS),
            read_table(spark, str(local_out / table), "delta").drop(*RUN_STAMPS),
            approx=True,
        )
    cluster_report = json.loads((cluster_out / "run_report.json").read_text())
    local_report = json.loads((local_out / "run_report.json").read_text())
    assert cluster_report["status"] == "succeeded"
    assert cluster_report["version"] == package.version()
    assert {n: t["rows"] for n, t in cluster_report["tables"].items()} == {
        n: t["rows"] for n, t in local_report["tables"].items()
    }
    for key in ("rows_read", "rows_valid", "rows_quarantined"):
        assert cluster_report.get(key) == local_report.get(key), key
