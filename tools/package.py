"""Build the EMR artifact: a zip of our own packages, byte-for-byte reproducible.

    python -m tools.package --dist dist

Writes dist/spark_jobs-<version>.zip (jobs, common, schemas: what `--py-files` needs), the
job entrypoint scripts beside it, and dist/requirements.txt, the pinned third-party packages
the cluster must install (those EMR 7.x does not ship). Entries are sorted and stamped with a
fixed time, so one commit always gives the same bytes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jobs", "common", "schemas")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def version() -> str:
    namespace: dict[str, str] = {}
    exec((ROOT / "common" / "version.py").read_text(), namespace)
    return namespace["__version__"]


def source_files() -> list[Path]:
    """Python sources of the shipped packages, relative to the repo root, sorted."""
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(p.relative_to(ROOT) for p in files)


def build_zip(target: Path) -> Path:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in source_files():
            info = zipfile.ZipInfo(relative.as_posix(), date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (ROOT / relative).read_bytes())
    return target


def cluster_requirements() -> str:
    """requirements/cluster.txt with every transitive package pinned from the lock file."""
    constraints = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, pinned = line.split("==", 1)
            constraints[name.lower().replace("_", "-")] = pinned.strip()
    header = "# Pinned packages our jobs need on EMR 7.x (Python 3.11) beyond what EMR ships.\n"
    tops = [
        line.split("==")[0].strip()
        for line in (ROOT / "requirements" / "cluster.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return header + "".join(f"{name}=={constraints[name.lower().replace('_', '-')]}\n" for name in tops)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="package", description="Build the EMR artifact.")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    dist: Path = args.dist
    if dist.exists():
        shutil.rmtree(dist)
    dist.mkdir(parents=True)
    archive = build_zip(dist / f"spark_jobs-{version()}.zip")
    entrypoints = dist / "entrypoints"
    entrypoints.mkdir()
    for job in sorted((ROOT / "jobs").glob("[!_]*.py")):
        shutil.copyfile(job, entrypoints / job.name)
    (dist / "requirements.txt").write_text(cluster_requirements())
    print(f"built {archive.relative_to(ROOT) if archive.is_relative_to(ROOT) else archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
