"""Running a job the way EMR does: spark-submit, the packaged zip on --py-files, the shipped
entrypoint script, from a directory with nothing of the repo on sys.path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from common.spark import local_jars
from tools import package

ROOT = Path(__file__).resolve().parents[1]


def build_artifact(dist: Path) -> tuple[Path, Path]:
    """Build dist/ with tools.package; returns the zip and the entrypoints folder."""
    package.main(["--dist", str(dist)])
    return dist / f"spark_jobs-{package.version()}.zip", dist / "entrypoints"


def spark_submit(
    dist: Path,
    job: str,
    args: list[str],
    cwd: Path,
    master: str = "local[2]",
    conf: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """`conf`: extra --conf settings; `extra_env`: extra environment (e.g. SPARK_HOME)."""
    archive, entrypoints = dist / f"spark_jobs-{package.version()}.zip", dist / "entrypoints"
    extra_conf = [item for key, value in (conf or {}).items() for item in ("--conf", f"{key}={value}")]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_GATEWAY_PORT")}
    env |= dict(extra_env or {})
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    command = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        master,
        "--driver-memory",
        "1g",
        "--jars",
        ",".join(local_jars()),
        "--conf",
        "spark.sql.shuffle.partitions=2",
        "--conf",
        "spark.ui.enabled=false",
        *extra_conf,
        "--py-files",
        str(archive),
        str(entrypoints / f"{job}.py"),
        *args,
    ]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
