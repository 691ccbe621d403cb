"""The cluster wheels `make lock` resolved (requirements/cluster-wheels.json) against the lock
file, offline; and the resolve/download commands against a stand-in pip that answers as the
real one does (its report format, its error lines)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tools import package
from tools.emr import wheels


def closure() -> dict[str, str]:
    """What `make package` pins in dist/requirements.txt (what the bootstrap installs)."""
    lines = package.cluster_requirements().splitlines()
    return {wheels.canonical(n): v for n, _, v in (line.partition("==") for line in lines if "==" in line)}


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return wheels.load_record()


def test_the_recorded_resolution_agrees_with_the_lock_file(recorded) -> None:
    assert wheels.disagreements(recorded, wheels.lock_pins(), expected=closure()) == []


def test_both_cluster_platforms_were_resolved_for_python_3_11(recorded) -> None:
    assert sorted(recorded["platforms"]) == ["aarch64", "x86_64"]
    assert recorded["python_version"] == "3.11" and recorded["abi"] == "cp311"
    for arch, platform in recorded["platforms"].items():
        # The defect this fixes: numpy's pin ships only manylinux2014 wheels, scipy's none.
        assert f"manylinux2014_{arch}" in platform["tags"] and f"manylinux_2_28_{arch}" in platform["tags"]
        for wheel in platform["wheels"].values():
            _, _, tags = wheels.wheel_tags(wheel["wheel"])
            assert tags == {"any"} or any(tag.endswith(arch) for tag in tags), wheel["wheel"]


def test_one_platform_tag_is_not_enough_for_the_current_pins(recorded) -> None:
    """Why the old one-tag recipe failed: some wheels are only 2014, others only 2_27/2_28."""
    binary = [wheels.wheel_tags(w["wheel"])[2] for w in recorded["platforms"]["x86_64"]["wheels"].values()]
    binary = [tags for tags in binary if tags != {"any"}]
    assert any("manylinux2014_x86_64" not in tags and "manylinux_2_17_x86_64" not in tags for tags in binary)
    assert any(not tags & {"manylinux_2_28_x86_64"} for tags in binary)


def test_a_stale_or_foreign_record_is_reported(recorded) -> None:
    tampered = json.loads(json.dumps(recorded))
    tampered["platforms"]["x86_64"]["wheels"]["numpy"]["version"] = "2.0.0"
    tampered["platforms"]["aarch64"]["wheels"]["numpy"]["wheel"] = "numpy-1.26.4-cp311-cp311-win_amd64.whl"
    problems = wheels.disagreements(tampered, wheels.lock_pins())
    assert "x86_64: numpy 2.0.0 is locked as 1.26.4" in problems
    assert "aarch64: numpy-1.26.4-cp311-cp311-win_amd64.whl does not install on CPython 3.11 aarch64" in problems
    del tampered["platforms"]["aarch64"]
    assert any(p.startswith("platforms ") for p in wheels.disagreements(tampered, wheels.lock_pins()))


def test_platform_tags_cover_amazon_linux_2023() -> None:
    tags = wheels.platform_tags("aarch64")
    assert tags[0] == "manylinux_2_34_aarch64" and tags[-1] == "manylinux2014_aarch64"
    assert len(tags) == len(set(tags)) == 34 - 17 + 2
    with pytest.raises(ValueError, match="architecture must be one of"):
        wheels.platform_tags("arm64")


# ── the commands, against a stand-in pip ────────────────────────────────────────────────

FAKE_PIP = """
import json, shutil, sys
from pathlib import Path
args = sys.argv[1:]
Path(sys.argv[0]).with_suffix('.args').write_text(json.dumps(args))
mode = Path(sys.argv[0]).with_suffix('.mode').read_text()
if mode == 'missing':
    sys.stderr.write('ERROR: Could not find a version that satisfies the requirement scipy==1.17.1\\n'
                     'ERROR: No matching distribution found for scipy==1.17.1\\n')
    sys.exit(1)
if args[0] == 'install':
    report = {'version': '1', 'install': [{
        'metadata': {'name': 'NumPy', 'version': '1.26.4'},
        'download_info': {'url': 'https://index.invalid/n/numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
                          'archive_info': {'hashes': {'sha256': 'ab' * 32}}}}]}
    Path(args[args.index('--report') + 1]).write_text(json.dumps(report))
else:
    dest = Path(args[args.index('--dest') + 1])
    (dest / 'numpy-1.26.4-cp311-cp311-manylinux2014_x86_64.whl').write_text(mode)
"""


@pytest.fixture
def pip(tmp_path: Path):
    script = tmp_path / "pip.py"
    script.write_text(FAKE_PIP)

    def make(mode: str) -> list[str]:
        script.with_suffix(".mode").write_text(mode)
        return [sys.executable, str(script)]

    make.args = lambda: json.loads(script.with_suffix(".args").read_text())  # type: ignore[attr-defined]
    return make


def test_resolve_is_a_wheels_only_dry_run_for_the_platform(pip, tmp_path: Path) -> None:
    resolved = wheels.resolve("x86_64", wheels.CLUSTER, pip=pip("ok"))
    assert resolved == {
        "numpy": {
            "version": "1.26.4",
            "wheel": "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "sha256": "ab" * 32,
        }
    }
    args = pip.args()
    assert args[:2] == ["install", "--dry-run"] and "--only-binary=:all:" in args
    assert args[args.index("--python-version") + 1] == "3.11" and args[args.index("--abi") + 1] == "cp311"
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert platforms == wheels.platform_tags("x86_64")
    assert args[args.index("-c") + 1] == str(wheels.CONSTRAINTS)


def test_a_pin_without_a_wheel_fails_with_pips_reason(pip) -> None:
    reason = r"^aarch64: .*No matching distribution found for scipy==1\.17\.1$"
    with pytest.raises(wheels.ResolutionError, match=reason):
        wheels.resolve("aarch64", wheels.CLUSTER, pip=pip("missing"))


def test_download_checks_every_wheel_against_the_record(pip, tmp_path: Path) -> None:
    out = tmp_path / "wheelhouse" / "x86_64"
    content = {"platforms": {"x86_64": {"wheels": {}}}}
    wheel = "numpy-1.26.4-cp311-cp311-manylinux2014_x86_64.whl"
    digest = hashlib.sha256(b"good").hexdigest()
    content["platforms"]["x86_64"]["wheels"]["numpy"] = {"version": "1.26.4", "wheel": wheel, "sha256": digest}
    assert [p.name for p in wheels.download("x86_64", wheels.CLUSTER, out, content, pip=pip("good"))] == [wheel]
    assert pip.args()[0] == "download"
    with pytest.raises(wheels.ResolutionError, match="differs from the wheel `make lock` recorded"):
        wheels.download("x86_64", wheels.CLUSTER, out, content, pip=pip("tampered"))
    content["platforms"]["x86_64"]["wheels"]["numpy"]["wheel"] = "numpy-1.26.4-cp311-cp311-manylinux_2_28_x86_64.whl"
    with pytest.raises(wheels.ResolutionError, match="the index changed since `make lock`"):
        wheels.download("x86_64", wheels.CLUSTER, out, content, pip=pip("good"))


def test_check_command_passes_offline(capsys) -> None:
    assert wheels.main(["check"]) == 0
    assert "agree with the lock file" in capsys.readouterr().out
