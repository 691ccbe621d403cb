"""Build the EMR artifact: a zip of our own packages, byte-for-byte reproducible.

    python -m tools.package --dist dist

Writes into dist/:
- spark_jobs-<version>.zip: jobs, common, schemas (what `--py-files` needs); Python sources
  only, no tests, no caches, and the build stops if a source looks like it holds a secret;
- entrypoints/<job>.py: the script spark-submit runs, one per job in tools/emr/registry.py;
- requirements.txt: the third-party packages the cluster must install (those EMR 7.x does
  not ship), with everything they need, pinned from the lock file;
- bootstrap/: the EMR bootstrap action and configurations (copied from bootstrap/);
- manifest.json: the version and the sha256 of every file above.
Entries are sorted and stamped with a fixed time, so one commit always gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import zipfile
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools.emr import registry

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jobs", "common", "schemas")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
BOOTSTRAP_FILES = ("install_requirements.sh", "configurations.json")
# EMR ships Spark and Delta with the cluster; installing them again would shadow its builds.
PROVIDED_BY_EMR = frozenset({"pyspark", "delta-spark", "py4j"})
# Python 3.11 on EMR 7.x nodes (Amazon Linux 2023), for the requirements' environment markers.
CLUSTER_MARKERS = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "platform_machine": "x86_64",
    "extra": "",
}
# Lines that look like credentials: AWS access key ids, private keys, assigned secrets.
SECRET_PATTERNS = (
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)\b(aws_secret_access_key|secret_key|password)\s*=\s*['\"][^'\"]{8,}['\"]"),
)


class BuildError(Exception):
    """A build that must not produce an artifact; the message is the one line shown."""


def version() -> str:
    namespace: dict[str, str] = {}
    exec((ROOT / "common" / "version.py").read_text(), namespace)
    return namespace["__version__"]


def _shipped(relative: Path) -> bool:
    """Python sources only; never tests or caches, wherever they sit."""
    parts = relative.parts
    return (
        relative.suffix == ".py"
        and "__pycache__" not in parts
        and not any(part in ("tests", "test") for part in parts)
        and not relative.name.startswith(("test_", "conftest"))
    )


def source_files() -> list[Path]:
    """Python sources of the shipped packages, relative to the repo root, sorted."""
    files = (p.relative_to(ROOT) for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
    return sorted(p for p in files if _shipped(p))


def find_secrets(files: Iterable[Path], root: Path = ROOT) -> list[str]:
    """`path:line` of every line that looks like a credential."""
    found = []
    for relative in files:
        for number, line in enumerate((root / relative).read_text(encoding="utf-8").splitlines(), start=1):
            if any(pattern.search(line) for pattern in SECRET_PATTERNS):
                found.append(f"{relative}:{number}")
    return found


def build_zip(target: Path, files: Sequence[Path]) -> Path:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in files:
            info = zipfile.ZipInfo(relative.as_posix(), date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (ROOT / relative).read_bytes())
    return target


def _requirement_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def locked_versions() -> dict[str, str]:
    """requirements/constraints.txt as {canonical name: version}."""
    pins = {}
    for line in _requirement_lines(ROOT / "requirements" / "constraints.txt"):
        name, _, pinned = line.partition("==")
        pins[canonicalize_name(name)] = pinned.strip()
    return pins


def dependency_closure(tops: Iterable[str]) -> list[str]:
    """The top-level packages and everything they need on the cluster, by canonical name.

    The graph comes from the installed packages' metadata (the virtualenv `make setup`
    built from the lock file), with markers evaluated for Python 3.11 on Linux.
    """
    seen: set[str] = set()
    todo = [canonicalize_name(Requirement(top).name) for top in tops]
    while todo:
        name = todo.pop()
        if name in seen or name in PROVIDED_BY_EMR:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            raise BuildError(f"{name} is not installed: run `make setup` before `make package`") from None
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate(CLUSTER_MARKERS):
                todo.append(canonicalize_name(requirement.name))
    return sorted(seen)


def cluster_requirements() -> str:
    """requirements/cluster.txt and all it needs, each pinned to the lock file's version."""
    pins = locked_versions()
    names = dependency_closure(_requirement_lines(ROOT / "requirements" / "cluster.txt"))
    unpinned = [name for name in names if name not in pins]
    if unpinned:
        raise BuildError(f"not in requirements/constraints.txt: {', '.join(unpinned)} (run `make lock`)")
    stale = [f"{n} {distribution(n).version} != {pins[n]}" for n in names if distribution(n).version != pins[n]]
    if stale:
        raise BuildError(f"installed packages differ from the lock file: {', '.join(stale)} (run `make setup`)")
    header = (
        "# Pinned packages our jobs need on EMR 7.x (Python 3.11) beyond what EMR ships,\n"
        "# with everything they need. Generated by `make package` from requirements/.\n"
    )
    return header + "".join(f"{name}=={pins[name]}\n" for name in names)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(dist: Path) -> str:
    """What was built: the version, and each file's sha256 (deploy checks them)."""
    files = sorted(p for p in dist.rglob("*") if p.is_file() and p.name != "manifest.json")
    content = {
        "name": "spark_jobs",
        "version": version(),
        "zip": f"spark_jobs-{version()}.zip",
        "jobs": [job.name for job in registry.present()],
        "files": {p.relative_to(dist).as_posix(): sha256(p) for p in files},
    }
    return json.dumps(content, indent=2, sort_keys=True) + "\n"


def build(dist: Path) -> Path:
    """Write the whole artifact into `dist` (emptied first); returns the zip.

    Every check runs before `dist` is touched, so a refused build leaves the last good one.
    """
    unregistered = registry.unregistered()
    if unregistered:
        raise BuildError(f"jobs without an entry in tools/emr/registry.py: {', '.join(unregistered)}")
    files = source_files()
    secrets = find_secrets(files)
    if secrets:
        raise BuildError(f"refusing to package what looks like a secret: {', '.join(secrets)}")
    requirements = cluster_requirements()
    if dist.exists():
        shutil.rmtree(dist)
    dist.mkdir(parents=True)
    archive = build_zip(dist / f"spark_jobs-{version()}.zip", files)
    entrypoints = dist / "entrypoints"
    entrypoints.mkdir()
    for job in registry.shipped():
        shutil.copyfile(job.source, entrypoints / job.entrypoint)
    (dist / "requirements.txt").write_text(requirements)
    bootstrap = dist / "bootstrap"
    bootstrap.mkdir()
    for name in BOOTSTRAP_FILES:
        shutil.copyfile(ROOT / "bootstrap" / name, bootstrap / name)
    (dist / "manifest.json").write_text(manifest(dist))
    return archive


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="package", description="Build the EMR artifact.")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    try:
        archive = build(args.dist)
    except BuildError as exc:
        sys.stderr.write(f"package: error: {exc}\n")
        return 1
    for job in registry.missing():
        sys.stderr.write(f"package: note: {job.name} is registered but {job.source.relative_to(ROOT)} is absent\n")
    print(f"built {archive.relative_to(ROOT) if archive.is_relative_to(ROOT) else archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
