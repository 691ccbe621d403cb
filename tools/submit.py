"""Run a job the way EMR does, on this machine: spark-submit, the packaged zip on
--py-files, the shipped entrypoint script. Used by the end-to-end tests and the benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from common.spark import local_jars


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment, minus anything that would put the repo on sys.path, with the
    driver and executors on this virtualenv's Python (EMR sets PYSPARK_PYTHON likewise)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_GATEWAY_PORT")}
    env |= dict(extra or {})
    env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return env


def command(
    script: Path,
    args: Sequence[str],
    archive: Path | None = None,
    master: str = "local[*]",
    driver_memory: str = "1g",
    conf: Mapping[str, str] | None = None,
) -> list[str]:
    """The spark-submit command line; the cached jars stand in for what EMR provides."""
    confs = [item for key, value in (conf or {}).items() for item in ("--conf", f"{key}={value}")]
    return [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        master,
        "--driver-memory",
        driver_memory,
        "--jars",
        ",".join(local_jars()),
        *confs,
        *(["--py-files", str(archive)] if archive else []),
        str(script),
        *args,
    ]


def run(
    cmd: list[str], cwd: Path, timeout: float | None = None, extra_env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = environment(extra_env)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
