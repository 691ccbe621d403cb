"""The session builder's sizing for local masters: Delta's log replay, shuffles and file
listings (VACUUM's) fit the cores, a cluster keeps the defaults, a setting the user made is
never overridden, and no Hadoop checksum file is written beside local files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from common.delta import SYMLINK_MANIFEST
from common.spark import (
    CACHE_COMPRESSED,
    DELTA_SNAPSHOT_PARTITIONS,
    LISTING_PARALLELISM,
    SHUFFLE_PARTITIONS,
    build_session,
    local_tuning,
)


@pytest.mark.parametrize("master", ["local[*]", "local[2]", "local-cluster[2,1,1024]"])
def test_a_local_master_sizes_delta_log_replay_and_shuffles_to_its_cores(master: str) -> None:
    assert local_tuning(master, configured=set(), cores=2) == {
        DELTA_SNAPSHOT_PARTITIONS: "2",
        SHUFFLE_PARTITIONS: "8",
        CACHE_COMPRESSED: "false",
        # Delta's VACUUM lists a table in this many tasks (10,000 by default)
        LISTING_PARALLELISM: "8",
    }


@pytest.mark.parametrize("master", ["yarn", "k8s://https://example:6443", "spark://host:7077"])
def test_a_cluster_master_keeps_deltas_defaults(master: str) -> None:
    assert local_tuning(master, configured=set(), cores=64) == {}


def test_a_value_the_user_set_wins() -> None:
    mine = {DELTA_SNAPSHOT_PARTITIONS, CACHE_COMPRESSED, LISTING_PARALLELISM}
    assert local_tuning("local[*]", configured=mine, cores=2) == {SHUFFLE_PARTITIONS: "8"}
    assert local_tuning("local[*]", configured={*mine, SHUFFLE_PARTITIONS}, cores=2) == {}


def test_the_live_session_keeps_the_explicit_test_setting(spark: SparkSession) -> None:
    """conftest sets the value explicitly; building the session again must not replace it."""
    assert build_session("again") is spark
    assert spark.conf.get(DELTA_SNAPSHOT_PARTITIONS) == "1"
    assert spark.conf.get(SHUFFLE_PARTITIONS) == "2"


def test_a_local_master_writes_no_hadoop_checksum_files(spark: SparkSession, tmp_path: Path) -> None:
    """Data files, commits and symlink manifests alike: S3 has no `.crc` files either, and on
    a local disk each one cost a `chmod` process. Delta's own version checksums stay."""
    table = tmp_path / "t"
    spark.sql(
        f"CREATE TABLE delta.`{table}` (id INT, day STRING) USING delta PARTITIONED BY (day) "
        f"TBLPROPERTIES ('{SYMLINK_MANIFEST}' = 'true')"
    )
    spark.createDataFrame([(1, "a"), (2, "b")], "id INT, day STRING").write.format("delta").mode("append").save(
        str(table)
    )
    names = [p.relative_to(table).as_posix() for p in table.rglob("*") if p.is_file()]
    assert [n for n in names if n.rsplit("/", 1)[-1].startswith(".")] == []
    assert {"_symlink_format_manifest/day=a/manifest", "_symlink_format_manifest/day=b/manifest"} <= set(names)
    assert "_delta_log/00000000000000000001.crc" in names
    assert sorted(spark.read.format("delta").load(str(table)).collect()) == [(1, "a"), (2, "b")]
