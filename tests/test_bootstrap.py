"""The EMR bootstrap action, run for real with bash against stand-ins for sudo, dnf, aws and pip.

The stand-in python3.11 fakes only `pip install`; everything else (the version check, the
verification of installed versions) runs on this virtualenv's real Python 3.11, where the
pinned cluster requirements are installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import package

SCRIPT = package.ROOT / "bootstrap" / "install_requirements.sh"
# The only system commands the script (and the stand-ins) may use: PATH holds nothing else,
# so no real python3.11, pip, dnf or aws on this machine can be reached.
SYSTEM_COMMANDS = ("bash", "env", "cat", "cp", "cut", "ln", "mkdir", "mktemp", "rm", "sha256sum", "touch")


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


@pytest.fixture
def node(tmp_path: Path) -> dict[str, Path]:
    """A fake EMR node: bin/ with the stand-ins, a fake S3 folder, a log of what ran."""
    bin_dir, system, s3, log = tmp_path / "bin", tmp_path / "system", tmp_path / "s3", tmp_path / "calls.log"
    for folder in (bin_dir, system, s3):
        folder.mkdir()
    for command in SYSTEM_COMMANDS:
        (system / command).symlink_to(shutil.which(command))
    _stub(bin_dir / "sudo", 'exec "$@"\n')
    _stub(
        tmp_path / "python3.11",
        f'if [ "$1 $2 $3" = "-m pip install" ]; then echo "pip $*" >> {log}; exit "${{STUB_PIP_EXIT:-0}}"; fi\n'
        f'exec {sys.executable} "$@"\n',
    )
    # dnf "installs" python3.11 by putting the stand-in on PATH
    _stub(bin_dir / "dnf", f'echo "dnf $*" >> {log}\nln -sf {tmp_path / "python3.11"} {bin_dir / "python3.11"}\n')
    _stub(
        bin_dir / "aws",
        f'echo "aws $*" >> {log}\n'
        'args=(); for a in "$@"; do\n'
        'case $a in s3|cp|--only-show-errors) ;; --recursive) r=-R ;; *) args+=("$a") ;; esac\n'
        "done\n"
        f"src=${{args[0]/s3:\\/\\//{s3}/}}\n"
        'cp ${r:-} "$src" "${args[1]}"\n',
    )
    (s3 / "bucket").mkdir()
    (s3 / "bucket" / "requirements.txt").write_text(package.cluster_requirements())
    return {
        "bin": bin_dir,
        "system": system,
        "s3": s3,
        "log": log,
        "state": tmp_path / "state",
        "python": tmp_path / "python3.11",
    }


def run(
    node: dict[str, Path], *args: str, pip_exit: int = 0, python_on_path: bool = True
) -> subprocess.CompletedProcess:
    if python_on_path:
        (node["bin"] / "python3.11").unlink(missing_ok=True)
        (node["bin"] / "python3.11").symlink_to(node["python"])
    env = {
        "PATH": f"{node['bin']}:{node['system']}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "SPARK_JOBS_STATE_DIR": str(node["state"]),
        "STUB_PIP_EXIT": str(pip_exit),
    }
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)


def calls(node: dict[str, Path]) -> list[str]:
    return node["log"].read_text().splitlines() if node["log"].exists() else []


def test_installs_from_pypi_then_does_nothing_the_second_time(node: dict[str, Path]) -> None:
    first = run(node, "s3://bucket/requirements.txt")
    assert first.returncode == 0, first.stderr
    pip = [c for c in calls(node) if c.startswith("pip")]
    assert len(pip) == 1 and " -r " in pip[0] and "--no-index" not in pip[0]
    assert len(list(node["state"].glob("requirements-*.installed"))) == 1

    second = run(node, "s3://bucket/requirements.txt")
    assert second.returncode == 0, second.stderr
    assert "already installed" in second.stderr
    assert len([c for c in calls(node) if c.startswith("pip")]) == 1


def test_installs_only_from_the_wheelhouse_when_given(node: dict[str, Path]) -> None:
    (node["s3"] / "bucket" / "wheelhouse").mkdir()
    (node["s3"] / "bucket" / "wheelhouse" / "great_expectations-1.24.1-py3-none-any.whl").write_text("")
    result = run(node, "s3://bucket/requirements.txt", "--wheelhouse", "s3://bucket/wheelhouse")
    assert result.returncode == 0, result.stderr
    assert any(c.startswith("aws s3 cp") and "--recursive" in c for c in calls(node))
    [pip] = [c for c in calls(node) if c.startswith("pip")]
    assert "--no-index --find-links" in pip


def test_installs_python_311_with_dnf_when_missing(node: dict[str, Path]) -> None:
    result = run(node, "s3://bucket/requirements.txt", python_on_path=False)
    assert result.returncode == 0, result.stderr
    assert calls(node)[0] == "dnf install -y -q python3.11 python3.11-pip"


def test_a_failing_pip_fails_the_bootstrap_loudly(node: dict[str, Path]) -> None:
    result = run(node, "s3://bucket/requirements.txt", pip_exit=3)
    assert result.returncode == 3
    assert "exited with 3" in result.stderr and "pip" in result.stderr.splitlines()[-1]
    assert not node["state"].exists()


def test_versions_other_than_the_pins_fail_the_bootstrap(node: dict[str, Path]) -> None:
    (node["s3"] / "bucket" / "requirements.txt").write_text("great-expectations==0.0.1\n")
    result = run(node, "s3://bucket/requirements.txt")
    assert result.returncode == 1
    assert "not installed as pinned: great-expectations==0.0.1 (found 1.24.1)" in result.stderr
    assert not node["state"].exists()


@pytest.mark.parametrize("args", [(), ("s3://bucket/requirements.txt", "--wheelhouse"), ("r.txt", "--bogus")])
def test_bad_arguments_fail_with_the_usage(node: dict[str, Path], args: tuple[str, ...]) -> None:
    result = run(node, *args)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("spark-jobs bootstrap: error:")
    assert "usage: install_requirements.sh REQUIREMENTS_URI" in result.stderr
    assert calls(node) == []
