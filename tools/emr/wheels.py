"""Which wheels the cluster requirements resolve to on EMR 7.x nodes, and the offline wheelhouse.

    python -m tools.emr.wheels resolve            # make lock: pip's resolver, dry run, per platform
    python -m tools.emr.wheels check              # the record agrees with the lock file (offline)
    python -m tools.emr.wheels download --out wheelhouse --requirements dist/requirements.txt

EMR 7.x (and EMR Serverless 7.x) runs Amazon Linux 2023, glibc 2.34: every `manylinux_2_x`
wheel with x <= 34 installs there. Pins do not all ship the same tag: numpy 1.26.4 has only
`manylinux2014` (= `manylinux_2_17`) wheels, scipy 1.17.1 only `manylinux_2_27/2_28` ones, so
one `--platform` is never enough; pip is given the whole range, newest first.

`resolve` runs `pip install --dry-run --report` (nothing is installed) for Python 3.11 on x86_64
and aarch64 (Graviton) with `--only-binary=:all:`, so a pin without a wheel for a platform
fails `make lock` there and then, and writes what pip chose (name, version, wheel file, sha256)
to requirements/cluster-wheels.json. `check` and the tests compare that record with the lock
file without any network; `download` fetches the wheelhouse and verifies every file against it.

Standard library only: `make lock` runs it with the fresh lock virtualenv's Python.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "requirements" / "cluster-wheels.json"
CLUSTER = ROOT / "requirements" / "cluster.txt"
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
ARCHITECTURES = ("x86_64", "aarch64")
PYTHON_VERSION = "3.11"
ABI = "cp311"
# Amazon Linux 2023's glibc.
GLIBC_MINOR = 34


def platform_tags(arch: str) -> list[str]:
    """Every manylinux tag an Amazon Linux 2023 node accepts, most specific first.

    `manylinux2014` is the legacy alias of `manylinux_2_17`; wheels carry one or both.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")
    return [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 16, -1)] + [f"manylinux2014_{arch}"]


def target_options(arch: str) -> list[str]:
    """pip's options for 'CPython 3.11 on an EMR 7.x node of this architecture, wheels only'."""
    options = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", ABI]
    for tag in platform_tags(arch):
        options += ["--platform", tag]
    return options


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(path: Path = CONSTRAINTS) -> dict[str, str]:
    """The lock file as {canonical name: version}."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    return pins


class ResolutionError(Exception):
    """pip could not resolve the requirements for a platform; the message is the line to show."""


def _pip_failure(stderr: str) -> str:
    """pip's own verdict, e.g. 'No matching distribution found for scipy==1.17.1'."""
    lines = [line.removeprefix("ERROR: ").strip() for line in stderr.splitlines() if line.startswith("ERROR:")]
    return "; ".join(lines[-2:]) if lines else (stderr.strip().splitlines() or ["pip failed"])[-1]


def resolve(arch: str, requirements: Path, constraints: Path = CONSTRAINTS, pip: Sequence[str] = ()) -> dict[str, Any]:
    """What pip would install on `arch` for `requirements` under the lock: {name: wheel info}."""
    pip = list(pip) or [sys.executable, "-m", "pip"]
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "report.json"
        command = [
            *pip,
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--disable-pip-version-check",
            # pip insists on a target for platform options, even for a dry run; nothing is written.
            "--target",
            str(Path(work) / "target"),
            "--report",
            str(report),
            *target_options(arch),
            "-r",
            str(requirements),
            "-c",
            str(constraints),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ResolutionError(f"{arch}: {_pip_failure(result.stderr)}")
        installs = json.loads(report.read_text())["install"]
    wheels = {}
    for item in installs:
        info = item["download_info"]
        wheels[canonical(item["metadata"]["name"])] = {
            "version": item["metadata"]["version"],
            # The file name only: it carries the tags; where it was downloaded from is not ours to pin.
            "wheel": info["url"].rsplit("/", 1)[-1],
            "sha256": info.get("archive_info", {}).get("hashes", {}).get("sha256", ""),
        }
    return dict(sorted(wheels.items()))


def record(wheels_by_arch: dict[str, dict[str, Any]], pip_version: str) -> dict[str, Any]:
    return {
        "comment": "Generated by `make lock` (python -m tools.emr.wheels resolve): the wheels pip resolves "
        "requirements/cluster.txt to under requirements/constraints.txt on EMR 7.x nodes. Do not edit.",
        "python_version": PYTHON_VERSION,
        "abi": ABI,
        "pip_version": pip_version,
        "platforms": {arch: {"tags": platform_tags(arch), "wheels": wheels_by_arch[arch]} for arch in wheels_by_arch},
    }


def load_record(path: Path = RECORD) -> dict[str, Any]:
    if not path.exists():
        raise ResolutionError(f"no {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: run `make lock`")
    return json.loads(path.read_text())


def wheel_tags(filename: str) -> tuple[set[str], set[str], set[str]]:
    """A wheel's (python, abi, platform) tags: name-version(-build)?-py-abi-plat.whl."""
    python, abi, platform = filename.removesuffix(".whl").split("-")[-3:]
    return set(python.split(".")), set(abi.split(".")), set(platform.split("."))


def disagreements(content: dict[str, Any], pins: dict[str, str], expected: dict[str, str] | None = None) -> list[str]:
    """Everything on which the record and the lock (and, if given, the expected closure) differ."""
    problems = []
    if sorted(content.get("platforms", {})) != sorted(ARCHITECTURES):
        problems.append(f"platforms {sorted(content.get('platforms', {}))} != {sorted(ARCHITECTURES)}")
    for arch, platform in sorted(content.get("platforms", {}).items()):
        accepted = set(platform_tags(arch)) | {"any"}
        if platform["tags"] != platform_tags(arch):
            problems.append(f"{arch}: resolved for other platform tags than {platform_tags(arch)}")
        wheels = platform["wheels"]
        for name, wheel in wheels.items():
            if pins.get(name) != wheel["version"]:
                problems.append(f"{arch}: {name} {wheel['version']} is locked as {pins.get(name, 'nothing')}")
            python, abi, plat = wheel_tags(wheel["wheel"])
            if not plat & accepted or not abi & {ABI, "abi3", "none"} or not python & {"cp311", "cp3", "py3"}:
                problems.append(f"{arch}: {wheel['wheel']} does not install on CPython 3.11 {arch}")
            if not re.fullmatch(r"[0-9a-f]{64}", wheel.get("sha256", "")):
                problems.append(f"{arch}: {name} has no sha256")
        if expected is not None:
            resolved = {name: wheel["version"] for name, wheel in wheels.items()}
            if resolved != expected:
                extra = sorted(set(resolved) - set(expected))
                lacking = sorted(set(expected) - set(resolved))
                problems.append(f"{arch}: resolved set is not the lock's closure (extra {extra}, missing {lacking})")
    return problems


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download(arch: str, requirements: Path, out: Path, content: dict[str, Any], pip: Sequence[str] = ()) -> list[Path]:
    """Fetch `arch`'s wheels into `out` (emptied first) and check each against the record."""
    pip = list(pip) or [sys.executable, "-m", "pip"]
    if out.exists():
        for stale in out.glob("*.whl"):
            stale.unlink()
    out.mkdir(parents=True, exist_ok=True)
    command = [*pip, "download", "--quiet", "--disable-pip-version-check", "--dest", str(out)]
    command += [*target_options(arch), "-r", str(requirements), "-c", str(CONSTRAINTS)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ResolutionError(f"{arch}: {_pip_failure(result.stderr)}")
    recorded = {w["wheel"]: w["sha256"] for w in content["platforms"][arch]["wheels"].values()}
    got = {p.name: p for p in sorted(out.glob("*.whl"))}
    if sorted(got) != sorted(recorded):
        raise ResolutionError(
            f"{arch}: downloaded {sorted(set(got) - set(recorded))} instead of {sorted(set(recorded) - set(got))} "
            "(the index changed since `make lock`: run it again)"
        )
    for name, path in got.items():
        if sha256(path) != recorded[name]:
            raise ResolutionError(f"{arch}: {name} differs from the wheel `make lock` recorded (sha256)")
    return list(got.values())


def _pip_version(pip: Sequence[str]) -> str:
    result = subprocess.run([*pip, "--version"], capture_output=True, text=True, check=True)
    return result.stdout.split()[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wheels", description="Cluster wheels: resolve, check, download.")
    commands = parser.add_subparsers(dest="command", required=True)
    resolve_cmd = commands.add_parser("resolve", help="resolve for every cluster platform and write the record")
    resolve_cmd.add_argument("--requirements", type=Path, default=CLUSTER)
    resolve_cmd.add_argument("--record", type=Path, default=RECORD)
    check_cmd = commands.add_parser("check", help="the record agrees with the lock file (offline)")
    check_cmd.add_argument("--record", type=Path, default=RECORD)
    download_cmd = commands.add_parser("download", help="fetch the wheelhouse for every cluster platform")
    download_cmd.add_argument("--requirements", type=Path, required=True)
    download_cmd.add_argument("--out", type=Path, required=True)
    download_cmd.add_argument("--arch", choices=ARCHITECTURES, action="append")
    args = parser.parse_args(argv)
    pip = [sys.executable, "-m", "pip"]
    try:
        if args.command == "resolve":
            wheels = {}
            for arch in ARCHITECTURES:
                wheels[arch] = resolve(arch, args.requirements, pip=pip)
                print(f"{arch}: {len(wheels[arch])} wheels")
            content = record(wheels, _pip_version(pip))
            problems = disagreements(content, lock_pins())
            if problems:
                raise ResolutionError("; ".join(problems))
            args.record.write_text(json.dumps(content, indent=2) + "\n")
            print(f"wrote {args.record.relative_to(ROOT) if args.record.is_relative_to(ROOT) else args.record}")
        elif args.command == "check":
            problems = disagreements(load_record(args.record), lock_pins())
            if problems:
                raise ResolutionError("; ".join(problems) + " (run `make lock`)")
            print("cluster wheels agree with the lock file")
        else:
            content = load_record()
            for arch in args.arch or ARCHITECTURES:
                files = download(arch, args.requirements, args.out / arch, content, pip=pip)
                print(f"{arch}: {len(files)} wheels in {args.out / arch}, each as `make lock` recorded")
    except ResolutionError as exc:
        sys.stderr.write(f"wheels: error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
