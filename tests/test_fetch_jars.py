"""The jars `make setup` fetches with Spark's Ivy (tools/fetch_jars.py): exactly the listed
ones, resolved transitively minus the excludes, and a failure is one line and exit 1. The
resolution tests read a Maven repository made here on disk: no network."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from common.spark import jar_cache_dir
from tools.fetch_jars import JARS_LIST, FetchError, JarList, install, read_jar_list

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.example</groupId><artifactId>{artifact}</artifactId><version>1.0</version>
  <dependencies>{dependencies}</dependencies>
</project>
"""
DEPENDENCY = "<dependency><groupId>org.example</groupId><artifactId>{}</artifactId><version>1.0</version></dependency>"
IVY_SETTINGS = """<ivysettings>
  <settings defaultResolver="local-repo"/>
  <resolvers><ibiblio name="local-repo" m2compatible="true" root="{root}"/></resolvers>
</ivysettings>
"""


def test_the_cached_jars_are_exactly_the_listed_ones() -> None:
    """What `make setup` left in .cache/jars is jars.txt's coordinates, nothing more or less."""
    listed = read_jar_list(JARS_LIST)
    cached = {jar.name for jar in jar_cache_dir().glob("*.jar")}
    assert cached == listed.file_names()
    assert (jar_cache_dir() / ".complete").exists()


def maven_repository(root: Path, modules: dict[str, list[str]]) -> Path:
    """A Maven layout under `root`: org.example:<artifact>:1.0, each a real jar and a pom
    declaring its dependencies."""
    for artifact, dependencies in modules.items():
        folder = root / "org" / "example" / artifact / "1.0"
        folder.mkdir(parents=True)
        with zipfile.ZipFile(folder / f"{artifact}-1.0.jar", "w") as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        pom = POM.format(artifact=artifact, dependencies="".join(DEPENDENCY.format(d) for d in dependencies))
        (folder / f"{artifact}-1.0.pom").write_text(pom)
    return root


def fetch(tmp_path: Path, listing: str) -> subprocess.CompletedProcess[str]:
    repository = maven_repository(tmp_path / "m2", {"app": ["lib", "extra"], "lib": [], "extra": []})
    settings = tmp_path / "ivysettings.xml"
    settings.write_text(IVY_SETTINGS.format(root=repository.as_uri()))
    (tmp_path / "jars.txt").write_text(listing)
    command = [sys.executable, "-m", "tools.fetch_jars", "--list", str(tmp_path / "jars.txt")]
    command += ["--dest", str(tmp_path / "jars"), "--ivy", str(tmp_path / "ivy"), "--ivy-settings", str(settings)]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)


def test_spark_s_ivy_resolves_the_list_and_its_dependencies_minus_the_excludes(tmp_path: Path) -> None:
    result = fetch(tmp_path, "org.example:app:1.0\norg.example:lib:1.0  # app needs it\nexclude org.example:extra\n")
    assert result.returncode == 0, result.stdout + result.stderr
    jars = tmp_path / "jars"
    assert sorted(p.name for p in jars.iterdir()) == [".complete", "org.example_app-1.0.jar", "org.example_lib-1.0.jar"]
    assert zipfile.ZipFile(jars / "org.example_app-1.0.jar").namelist() == ["META-INF/MANIFEST.MF"]


def test_a_coordinate_ivy_cannot_find_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = fetch(tmp_path, "org.example:nowhere:1.0\n")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "fetch_jars: error: could not resolve org.example:nowhere:1.0: " in result.stderr
    assert "[unresolved dependency: org.example#nowhere;1.0: not found]" in result.stderr
    assert not (tmp_path / "jars").exists()


def test_a_dependency_the_list_does_not_name_is_refused(tmp_path: Path) -> None:
    """jars.txt is the whole classpath: an unlisted transitive jar stops the fetch, named."""
    resolved = []
    for name in ("org.example_app-1.0.jar", "org.example_lib-1.0.jar"):
        resolved.append(tmp_path / name)
        resolved[-1].write_bytes(b"PK")
    with pytest.raises(FetchError, match=r"Ivy also resolved org.example_lib-1.0.jar: list them in"):
        install(resolved, JarList(("org.example:app:1.0",), ()), tmp_path / "jars")
    assert not (tmp_path / "jars").exists()


@pytest.mark.parametrize(
    ("line", "says"),
    [("io.delta:delta-spark_2.12", "is not group:artifact:version"), ("exclude org.antlr", "is not 'exclude")],
)
def test_a_line_that_is_neither_is_named(tmp_path: Path, line: str, says: str) -> None:
    listing = tmp_path / "jars.txt"
    listing.write_text(f"# a comment\n{line}\n")
    with pytest.raises(FetchError, match=rf"jars.txt:2: '{line}' {says}"):
        read_jar_list(listing)
