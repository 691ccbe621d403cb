"""Fetch the jars pip does not ship (requirements/jars.txt) into .cache/jars, once, through
Spark's own dependency resolution: Python 3.11 and Java 17 are all a machine needs.

    python -m tools.fetch_jars              # `make setup` runs it when jars.txt changes

The venv's `spark-submit --packages` (Ivy, as `spark.jars.packages` uses it) resolves the
coordinates into an Ivy cache in the repository (.cache/ivy), then the jars it resolved are
copied as plain files into .cache/jars, which local sessions list in `spark.jars`
(common/spark.py): nothing is resolved when a JVM starts, nothing reaches the network after
the first time.

Ivy resolves transitively and leaves out Spark's own artifacts. requirements/jars.txt stays
the complete list of what lands on the classpath: every jar Ivy resolves must be listed there,
and a dependency that Spark's jars already provide (the same version: Delta's ANTLR runtime)
or that the jobs do not use is named on an `exclude` line. A version bump that pulls in
something new fails here, naming it, instead of silently widening the classpath.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
JARS_LIST = REPO_ROOT / "requirements" / "jars.txt"
COORDINATE = re.compile(r"^[\w.-]+:[\w.-]+:[\w.-]+$")
MODULE = re.compile(r"^[\w.-]+:[\w.-]+$")

# Run by spark-submit once Ivy has resolved `--packages`: writes the resolved jars (the
# `spark.jars` Spark set from them) to the file named by its argument. No SparkContext.
PROBE = """\
import sys
from pyspark import SparkConf, SparkContext

SparkContext._ensure_initialized()
with open(sys.argv[1], "w") as out:
    out.write(SparkConf().get("spark.jars", ""))
"""


class FetchError(Exception):
    """A one-line reason the jars could not be fetched."""


@dataclass(frozen=True)
class JarList:
    """requirements/jars.txt: coordinates to resolve (group:artifact:version) and the
    dependencies to leave out (`exclude group:artifact`)."""

    coordinates: tuple[str, ...]
    excludes: tuple[str, ...]

    def file_names(self) -> set[str]:
        """The names Ivy retrieves these coordinates' jars under: group_artifact-version.jar."""
        return {"{}_{}-{}.jar".format(*coordinate.split(":")) for coordinate in self.coordinates}


def read_jar_list(path: Path) -> JarList:
    """Parse the list, or a FetchError naming the first line that is neither."""
    coordinates, excludes = [], []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("exclude "):
            module = line.removeprefix("exclude ").strip()
            if not MODULE.match(module):
                raise FetchError(f"{path}:{number}: '{raw.strip()}' is not 'exclude group:artifact'")
            excludes.append(module)
        elif COORDINATE.match(line):
            coordinates.append(line)
        else:
            raise FetchError(f"{path}:{number}: '{raw.strip()}' is not group:artifact:version")
    if not coordinates:
        raise FetchError(f"{path} lists no coordinates")
    return JarList(tuple(coordinates), tuple(excludes))


def resolve(jars: JarList, ivy_dir: Path, log: Path, ivy_settings: Path | None = None) -> list[Path]:
    """Resolve through the venv's spark-submit (`--packages`, Ivy home `ivy_dir`); returns the
    resolved jars in Ivy's folder. Its whole output goes to `log`."""
    spark_submit = Path(sys.executable).parent / "spark-submit"
    if not spark_submit.exists():
        raise FetchError(f"no spark-submit beside {sys.executable}: run `make setup` (pyspark is installed there)")
    ivy_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fetch-jars-") as tmp:
        probe, answer = Path(tmp) / "probe.py", Path(tmp) / "jars"
        probe.write_text(PROBE)
        command = [
            str(spark_submit),
            "--master",
            "local[1]",
            "--driver-memory",
            "512m",
            "--packages",
            ",".join(jars.coordinates),
            *(["--exclude-packages", ",".join(jars.excludes)] if jars.excludes else []),
            "--conf",
            f"spark.jars.ivy={ivy_dir.resolve()}",
            *(["--conf", f"spark.jars.ivySettings={ivy_settings.resolve()}"] if ivy_settings else []),
            str(probe),
            str(answer),
        ]
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYSPARK_GATEWAY_PORT")}
        env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = sys.executable
        with log.open("w") as out:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
        if result.returncode != 0 or not answer.exists():
            raise FetchError(f"could not resolve {', '.join(jars.coordinates)}: {failure_line(log)} (log: {log})")
        listed = answer.read_text()
    return [Path(item.removeprefix("file:")) for item in listed.split(",") if item]


def failure_line(log: Path) -> str:
    """The line of spark-submit's output that says why: Ivy's unresolved dependencies when
    there are any, else the last line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    for line in lines:
        if "unresolved dependency" in line:
            return line.split("RuntimeException: ", 1)[-1]
    return lines[-1] if lines else "spark-submit printed nothing"


def install(resolved: Sequence[Path], jars: JarList, dest: Path, source: Path = JARS_LIST) -> None:
    """Move the resolved jars out of Ivy's retrieve folder (Spark copies them there from its
    cache on every resolution) into `dest`, replacing what was there: a jar no longer listed
    must leave the classpath. First checks they are exactly the listed ones."""
    names = {jar.name for jar in resolved}
    if extra := sorted(names - jars.file_names()):
        raise FetchError(
            f"Ivy also resolved {', '.join(extra)}: list them in {source}, or add 'exclude group:artifact' lines"
        )
    if missing := sorted(jars.file_names() - names):
        raise FetchError(f"Ivy did not resolve {', '.join(missing)} (another version won a conflict?)")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for jar in resolved:
        shutil.move(jar, partial / jar.name)
    (partial / ".complete").touch()
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fetch_jars", description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", type=Path, default=JARS_LIST, help="coordinates to resolve")
    parser.add_argument("--dest", type=Path, default=REPO_ROOT / ".cache" / "jars", help="where the jars go")
    parser.add_argument("--ivy", type=Path, default=REPO_ROOT / ".cache" / "ivy", help="Ivy's home (its cache)")
    parser.add_argument("--ivy-settings", type=Path, help="an ivysettings.xml (a mirror) instead of Spark's defaults")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        jars = read_jar_list(args.list)
        print(f"fetch_jars: resolving {len(jars.coordinates)} jars with Spark's Ivy (once; cache {args.ivy})")
        resolved = resolve(jars, args.ivy, args.ivy / "resolve.log", args.ivy_settings)
        install(resolved, jars, args.dest, args.list)
    except (FetchError, OSError) as exc:
        print(f"fetch_jars: error: {exc}", file=sys.stderr)
        return 1
    print(f"fetch_jars: {len(resolved)} jars in {args.dest} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
