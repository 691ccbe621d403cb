"""The JVM class archive (tools/class_archive.py): `make test` builds it, every local driver
maps it, and its name changes whenever the JVM would refuse it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession

from common.spark import class_archive, class_archive_options, java_home, local_jars
from tools import submit


def test_the_archive_maps_into_the_jvm_spark_submit_starts(tmp_path: Path) -> None:
    archive = class_archive()
    assert archive.exists(), f"no class archive at {archive}: `make test` builds it (python -m tools.class_archive)"
    # -Xshare:on turns "cannot map the archive" from a silent fallback into an exit status.
    strict = f"-Xshare:on -XX:SharedArchiveFile={archive}"
    env = submit.environment({"SPARK_HOME": str(Path(pyspark.__file__).parent), "SPARK_SUBMIT_OPTS": strict})
    spark_submit = Path(submit.command(Path("x.py"), [])[0])
    mapped = subprocess.run([str(spark_submit), "--version"], env=env, capture_output=True, text=True, check=False)
    assert mapped.returncode == 0, mapped.stdout + mapped.stderr
    # The control: on another classpath the same archive is refused.
    java = java_home() / "bin" / "java"
    refused = subprocess.run(
        [str(java), "-Xshare:on", f"-XX:SharedArchiveFile={archive}", "-cp", str(tmp_path), "-version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0


def test_the_test_session_and_every_test_submit_map_it(spark: SparkSession) -> None:
    from tests.submit import TEST_CONF

    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert f"-XX:SharedArchiveFile={class_archive()}" in list(runtime.getInputArguments())
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        assert class_archive_options() in TEST_CONF[key]


def test_the_name_changes_with_the_jars_and_the_jdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = class_archive()
    jars = tmp_path / "jars"
    jars.mkdir()
    for jar in local_jars():
        shutil.copy2(jar, jars)
    monkeypatch.setenv("SPARK_JOBS_JAR_DIR", str(jars))
    copied = class_archive()
    assert copied != real
    # A jar rewritten (an upgrade) is another archive; nothing is built for it yet.
    newest = sorted(jars.glob("*.jar"))[-1]
    newest.write_bytes(newest.read_bytes() + b"\0")
    upgraded = class_archive()
    assert upgraded != copied
    assert upgraded.parent == copied.parent
    assert class_archive_options() == ""
    # Another JDK (its release file) is another archive.
    jdk = tmp_path / "jdk"
    jdk.mkdir()
    (jdk / "release").write_text('JAVA_VERSION="21.0.1"\n')
    monkeypatch.setenv("JAVA_HOME", str(jdk))
    assert class_archive() != upgraded
