"""One SparkSession for the whole test run, built by the same code the jobs use, tuned for
small data: two shuffle partitions, no UI, Delta's log replay on one partition, the serial GC.

S3: the `s3` fixture starts moto's S3 server on loopback once per test run and points the
shared session at it. The AWS credentials are dummies set here, at import, because the JVM
reads its environment once when it starts: whatever the developer's shell holds (real keys,
a profile) never reaches a test, and the SDK never probes the EC2 metadata address.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from common.s3 import configure_s3
from common.spark import build_session, class_archive_options
from tools import package
from tools.local_s3 import LocalS3

# Before any JVM starts (the `spark` fixture), see the module docstring.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "tests-access-key",
        # Distinctive, so tests can prove it is never written anywhere.
        "AWS_SECRET_ACCESS_KEY": "tests-secret-never-written",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)

FIXTURES = Path(__file__).parent / "fixtures"

# Tests that start other processes or servers (spark-submit, a local cluster, moto's S3 server,
# Chromium) or run whole jobs: `make test` runs them, `make test-fast` (`-m "not slow"`) leaves
# them out. A test using one of these fixtures (the packaged zip for spark-submit, the S3
# server) is marked by that alone; other slow modules say `pytestmark = pytest.mark.slow`.
SLOW_FIXTURES = frozenset({"dist", "s3"})
# The modules that take longest, first: `make test` runs the suite on two workers (pytest-xdist,
# --dist loadgroup), which take work in collection order; a long module started last would
# leave one worker idle while the other finishes it. Measured with `pytest --durations`.
LONGEST_FIRST = (
    "test_e2e_local_cluster",
    "test_warehouse",
    "test_log_analytics_warehouse",
    "test_log_formats_warehouse",
    "test_erase_users",
    "test_erase_segmentation",
    "test_maintain_tables_roots",
    "test_gates",
    "test_dashboards",
    "test_segmentation_behaviour",
    "test_transaction_etl_golden",
    "test_s3_jobs",
    "test_e2e_spark_submit",
    "test_behaviour",
    "test_transaction_etl_properties",
    "test_s3_encryption",
)

TEST_CONF = {
    "spark.master": "local[2]",
    # One session serves the whole run (~900 tests, an hour on two workers): headroom for the
    # hash maps of a late test beside what Delta and the block manager still hold by then.
    "spark.driver.memory": "3g",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    # The serial collector: no concurrent GC threads competing with the driver for two cores
    # over a 3 GB heap. (The session lives the whole run, so it keeps C2: see tests/submit.py.)
    # The class archive `make test` builds, when there is one (tools/class_archive.py).
    "spark.driver.extraJavaOptions": f"-XX:+UseSerialGC {class_archive_options()}".strip(),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts processes or servers, or runs whole jobs (not in make test-fast)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slow tests; keep each module whose tests share a module-scoped fixture on one
    xdist worker (the fixture is then built once); run the longest modules first."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if shares_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__.rsplit(".", 1)[-1], len(rank)))


def shares_module_fixture(item: pytest.Item) -> bool:
    info: Any = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.values() if info is not None else ()
    return any(d.scope == "module" for defs in definitions for d in defs)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    warehouse = tmp_path_factory.mktemp("warehouse")
    session = build_session("tests", {**TEST_CONF, "spark.sql.warehouse.dir": str(warehouse)})
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def release_module_state() -> Iterator[None]:
    """After each module, once a session exists, drop what the shared session still holds: the
    frames cached and Delta's cached table snapshots (state kept in the block manager of a JVM
    that lives the whole run). No Spark state but the session itself outlives a module."""
    yield
    session = SparkSession.getActiveSession()
    if session is not None:
        session.catalog.clearCache()
        session._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/ as `make package` builds it, once per test run. Tests only read it; one that
    changes files works on a copy (see test_emr_aws)."""
    folder = tmp_path_factory.mktemp("artifact") / "dist"
    assert package.main(["--dist", str(folder)]) == 0
    return folder


@pytest.fixture(scope="session")
def s3(spark: SparkSession) -> Iterator[LocalS3]:
    """moto's S3 server on a free 127.0.0.1 port, and the shared session pointed at it.

    The endpoint is known only once the server is up, after the session may already exist;
    so, like a job run, we set AWS_ENDPOINT_URL_S3 and let `configure_s3` (what build_session
    calls) apply it to the live session. S3A keeps one FileSystem per bucket with the settings
    it was created with; tests that switch endpoints need fresh ones, hence no cache here.
    """
    server = LocalS3(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], os.environ["AWS_REGION"])
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    with server, pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_S3", server.endpoint)
        for scheme in ("s3", "s3a"):
            hadoop_conf.setBoolean(f"fs.{scheme}.impl.disable.cache", True)
        configure_s3(spark)
        yield server
    for scheme in ("s3", "s3a"):
        hadoop_conf.unset(f"fs.{scheme}.impl.disable.cache")
    configure_s3(spark)  # the endpoint variable is gone again: so is the endpoint
