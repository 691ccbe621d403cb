"""Running a job the way EMR does: spark-submit, the packaged zip on --py-files, the shipped
entrypoint script, from a directory with nothing of the repo on sys.path."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from common.spark import class_archive_options
from tools import package, submit

# A test's spark-submit is a JVM that lives a minute on kilobytes: on two cores, C2's compiler
# threads (code the run ends before it pays back) and G1's concurrent threads take CPU from the
# job itself. The client compiler alone and the serial collector suit such a short life; a job
# on EMR keeps the JVM defaults, a long run needs C2. Each JVM maps the class archive `make
# test` builds, when there is one (tools/class_archive.py): it starts without parsing the jars.
SHORT_LIVED_JVM = f"-XX:TieredStopAtLevel=1 -XX:+UseSerialGC {class_archive_options()}".strip()
TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.driver.extraJavaOptions": SHORT_LIVED_JVM,
    "spark.executor.extraJavaOptions": SHORT_LIVED_JVM,
}


def spark_submit(
    dist: Path,
    job: str,
    args: list[str],
    cwd: Path,
    master: str = "local[2]",
    conf: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> subprocess.CompletedProcess[str]:
    """Submit `job` from the artifact in `dist`. `conf`: extra --conf settings; `extra_env`:
    extra environment (e.g. SPARK_HOME). The timeout is generous for a loaded machine."""
    archive, entrypoints = dist / f"spark_jobs-{package.version()}.zip", dist / "entrypoints"
    cmd = submit.command(entrypoints / f"{job}.py", args, archive, master=master, conf={**TEST_CONF, **(conf or {})})
    return submit.run(cmd, cwd=cwd, timeout=timeout, extra_env=extra_env)
