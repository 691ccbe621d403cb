"""One SparkSession builder for local development, tests, spark-submit and EMR.

Who owns the classpath decides what we add:
- launched by `spark-submit` (EMR steps, the packaged zip): the submitter owns the classpath
  (EMR's `delta-defaults` classification, or `--jars` locally), so we add no jars;
- launched from plain Python (`python -m jobs.x`, pytest): we start a local JVM and put the
  jars cached by `make setup` (requirements/jars.txt) on it, so nothing reaches the network.
Either way the session runs in UTC and has Delta's SQL extension and catalog enabled, and a
session with a local master reads and writes `s3://` and `s3a://` through S3A, configured from
the AWS environment (common/s3.py); on EMR, EMRFS keeps serving `s3://` untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Container, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pyspark
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from common.errors import JobError
from common.s3 import configure_s3

# Spark 3.5's pre-shuffle limit of rank-filtered windows; -1 turns it off.
WINDOW_GROUP_LIMIT_THRESHOLD = "spark.sql.optimizer.windowGroupLimitThreshold"

# Settings every job needs, wherever it runs.
BASE_CONF: dict[str, str] = {
    # Timestamps are normalised to UTC; windows and dates must not depend on the host zone.
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # Small outputs are validated on a pandas copy (common/expectations.py): collect it through
    # Arrow, columnar, not row by row through pickled Python objects.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Off: a `row_number() = 1` window (latest_per_key's dedup) would otherwise first sort every
    # row before its shuffle to keep each task's first row per key, which drops nothing when
    # keys rarely repeat, and the window sorts them again after the shuffle.
    WINDOW_GROUP_LIMIT_THRESHOLD: "-1",
}

# Settings for a JVM we start ourselves on a developer machine.
LOCAL_CONF: dict[str, str] = {
    "spark.master": "local[*]",
    "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "4g"),
    "spark.ui.showConsoleProgress": "false",
}

REPO_ROOT = Path(__file__).resolve().parents[1]


def launched_by_spark_submit() -> bool:
    """True when spark-submit started this Python process (it hands us its gateway port)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def jar_cache_dir() -> Path:
    """Where `make setup` caches the jars pip does not ship (overridable for unusual layouts)."""
    return Path(os.environ.get("SPARK_JOBS_JAR_DIR", REPO_ROOT / ".cache" / "jars"))


def local_jars() -> list[str]:
    """The cached jars, or a one-line error saying how to fetch them."""
    jars = sorted(str(p) for p in jar_cache_dir().glob("*.jar"))
    if not jars:
        raise JobError(f"no Spark jars in {jar_cache_dir()}: run `make setup` once to fetch them")
    return jars


def class_archive() -> Path:
    """Where `make` keeps the JVM's class archive (AppCDS) for this JDK and these jars.

    A JVM that maps the archive reads the Spark and Delta classes it needs pre-parsed instead
    of loading them from the jars: a cold driver starts seconds sooner. The name is a digest of
    the JDK's release and of every jar's name, size and time, so an upgrade of either is a new
    archive (the JVM would refuse the old one). Built by `python -m tools.class_archive`.
    """
    release = java_home() / "release"
    digest = hashlib.sha256(release.read_bytes() if release.exists() else b"")
    spark_jars = Path(os.environ.get("SPARK_HOME", Path(pyspark.__file__).parent)) / "jars"
    for jar in sorted([*spark_jars.glob("*.jar"), *jar_cache_dir().glob("*.jar")]):
        stat = jar.stat()
        digest.update(f"{jar}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return REPO_ROOT / ".cache" / "jvm" / f"spark-{digest.hexdigest()[:16]}.jsa"


def java_home() -> Path:
    """The JDK spark-submit's launcher runs: $JAVA_HOME, else the `java` on PATH."""
    if "JAVA_HOME" in os.environ:
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    return Path(os.path.realpath(java)).parents[1] if java else Path("/nonexistent")


def class_archive_options() -> str:
    """JVM options that map the class archive when it has been built ("" when not). The JVM
    checks the archive against its own classpath and falls back to the jars when they differ
    (a SPARK_HOME elsewhere); its notes on that stay off the job's stdout."""
    archive = class_archive()
    return f"-XX:SharedArchiveFile={archive} -Xlog:cds*=off" if archive.exists() else ""


def build_session(app_name: str, conf: Mapping[str, str] | None = None) -> SparkSession:
    """Create (or reuse) the session for a job; `conf` overrides, e.g. test tuning."""
    settings = dict(BASE_CONF)
    if not launched_by_spark_submit():
        settings.update(LOCAL_CONF)
        settings["spark.jars"] = ",".join(local_jars())
        if options := class_archive_options():
            settings["spark.driver.extraJavaOptions"] = options
        if "SPARK_SHUFFLE_PARTITIONS" in os.environ:
            settings[SHUFFLE_PARTITIONS] = os.environ["SPARK_SHUFFLE_PARTITIONS"]
    settings.update(conf or {})
    builder = SparkSession.builder.appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    # After getOrCreate, on the live session: under `spark-submit --master local[...]` the JVM
    # existed before us, and a reused session must follow the environment of this run.
    configure_s3(spark)
    tune_for_local_master(spark)
    return spark


class CacheScope:
    """Persist DataFrames for the length of a `with` block and release them all at its end,
    even when the run fails: a job leaves no cached data behind in a shared session."""

    def __init__(self) -> None:
        self._frames: list[DataFrame] = []

    def __call__(self, df: DataFrame, level: StorageLevel = StorageLevel.MEMORY_AND_DISK) -> DataFrame:
        self._frames.append(df.persist(level))
        return df

    def __enter__(self) -> CacheScope:
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._frames:
            self._frames.pop().unpersist()


# Delta rebuilds a table's state (its log replay) in this many tasks; the default, 50, suits
# a cluster. On a few local cores, 50 tasks per snapshot make every small Delta write and
# read cost seconds; one task per core is enough for a table's log.
DELTA_SNAPSHOT_PARTITIONS = "spark.databricks.delta.snapshotPartitions"
# A few cores, not a cluster's hundreds: Spark's default of 200 shuffle partitions makes every
# aggregate 200 tiny tasks, and a cached aggregate keeps them, so every later query on it
# (an expectation suite on Spark, a reconciliation sum) runs 200 tasks too.
SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"
SHUFFLE_PARTITIONS_PER_CORE = 4
# A few cores and ample memory for their data: CPU is what runs out. Compressing a cached
# batch first tries every encoding on every value (a dictionary lookup per value of a column
# of unique ids), which costs more CPU than the memory it saves. A cluster keeps compression,
# where the same cache spans executors' memory.
CACHE_COMPRESSED = "spark.sql.inMemoryColumnarStorage.compressed"
# Tasks a distributed file listing is split into; the default, 10,000, suits a cluster's
# storage. Delta's VACUUM lists a table in that many tasks however small it is: on a few local
# cores that made every VACUUM of a tiny table cost tens of seconds.
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


def local_tuning(master: str, configured: Container[str], cores: int) -> dict[str, str]:
    """Settings that size a session to a local master's cores (`local[*]`, `local-cluster`,
    also under a local spark-submit). A cluster master keeps the defaults, and a value the
    user set (`--conf`, spark-defaults) always wins."""
    if not master.startswith("local"):
        return {}
    cores = max(1, cores)
    tuned = {
        DELTA_SNAPSHOT_PARTITIONS: str(cores),
        SHUFFLE_PARTITIONS: str(SHUFFLE_PARTITIONS_PER_CORE * cores),
        CACHE_COMPRESSED: "false",
        LISTING_PARALLELISM: str(SHUFFLE_PARTITIONS_PER_CORE * cores),
    }
    return {key: value for key, value in tuned.items() if key not in configured}


# The local disk's file system behind Hadoop's FileContext API, which Delta writes its commits
# and symlink manifests through. The default (LocalFs) adds a checksum file to each.
FILE_CONTEXT_LOCAL_FS = "fs.AbstractFileSystem.file.impl"
RAW_LOCAL_FS = "org.apache.hadoop.fs.local.RawLocalFs"


def tune_for_local_master(spark: SparkSession) -> dict[str, str]:
    """Apply `local_tuning` to the live session; returns what was set."""
    context = spark.sparkContext
    configured = {key for key, _ in context.getConf().getAll()}
    tuned = local_tuning(context.master, configured, context.defaultParallelism)
    for key, value in tuned.items():
        spark.conf.set(key, value)
    if context.master.startswith("local") and f"spark.hadoop.{FILE_CONTEXT_LOCAL_FS}" not in configured:
        write_no_local_checksum_files(spark)
    return tuned


def write_no_local_checksum_files(spark: SparkSession) -> None:
    """Stop Hadoop writing a hidden `.crc` file beside every file on the local disk.

    Without Hadoop's native library (pip's PySpark has none), creating a local file starts a
    `chmod` process, and the checksum file doubles that: a write of a table over hundreds of
    dates (a file and a symlink manifest per date) spent half its time there. S3, where
    the jobs run on EMR, has no such files either. Applies to this JVM: the driver, and the
    executors of a `local[...]` master (a `local-cluster` worker keeps writing them).
    """
    context = spark.sparkContext
    hadoop_conf = context._jsc.hadoopConfiguration()
    hadoop_conf.set(FILE_CONTEXT_LOCAL_FS, RAW_LOCAL_FS)
    context._jvm.org.apache.hadoop.fs.FileSystem.getLocal(hadoop_conf).setWriteChecksum(False)


@contextmanager
def session_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Set session configuration for the block, then restore what was there."""
    previous = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
