"""--base-ref: a ref that names no commit is an error (smoke: before any cluster starts); a ref where
the chart did not exist yet is the one case the upgrade-from-base step skips."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from webstack import cluster, versioning
from webstack.errors import InputError
from webstack.lifecycle import Lifecycle, Skip, SmokeOptions, smoke
from webstack.paths import CHART_DIR

TINY = Path(__file__).parents[1] / "fixtures" / "tiny-chart"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
                           *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose first commit has no chart; the second adds charts/tiny."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "README.md").write_text("before the chart\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    git(repo, "tag", "before-chart")
    shutil.copytree(TINY, repo / "charts" / "tiny")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "chart")
    return repo


def test_refs_are_told_apart(repo: Path, tmp_path: Path) -> None:
    chart = repo / "charts" / "tiny"
    assert versioning.commit_of("HEAD", repo) == git(repo, "rev-parse", "HEAD")
    with pytest.raises(versioning.RefNotFound, match="--base-ref 'NO-SUCH-REF': not a commit"):
        versioning.chart_at_ref(chart, "NO-SUCH-REF", tmp_path / "a", repo)
    with pytest.raises(versioning.ChartNotAtRef, match=r"charts/tiny/Chart\.yaml does not exist at"):
        versioning.chart_at_ref(chart, "before-chart", tmp_path / "b", repo)
    assert (versioning.chart_at_ref(chart, "HEAD", tmp_path / "c", repo) / "Chart.yaml").is_file()


def test_a_broken_chart_yaml_at_the_base_ref_names_ref_file_and_line(repo: Path) -> None:
    chart = repo / "charts" / "tiny"
    (chart / "Chart.yaml").write_text("name: [tiny\n")
    git(repo, "commit", "-qam", "broken")
    with pytest.raises(InputError, match=r"HEAD:charts/tiny/Chart.yaml:2:1: YAML syntax error"):
        versioning.version_at(chart, "HEAD", repo)


def upgrade_from_base(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, raised: Exception) -> None:
    def chart_at_ref(*args: object, **kw: object) -> Path:
        raise raised

    monkeypatch.setattr(versioning, "chart_at_ref", chart_at_ref)
    life = SimpleNamespace(scenario=SimpleNamespace(chart=CHART_DIR, chart_in_repo="charts/webstack"),
                           base_ref="v1", work=tmp_path)
    Lifecycle.do_upgrade_from_base(life)  # type: ignore[arg-type]


def test_upgrade_from_base_skips_only_when_the_chart_was_not_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(Skip, match=r"does not exist at .*no earlier chart version to upgrade from"):
        upgrade_from_base(monkeypatch, tmp_path, versioning.ChartNotAtRef("Chart.yaml does not exist at abc"))
    with pytest.raises(versioning.RefNotFound):
        upgrade_from_base(monkeypatch, tmp_path, versioning.RefNotFound("--base-ref 'v1': not a commit"))


def test_smoke_refuses_an_unknown_base_ref_before_making_a_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def make(*args: object, **kw: object) -> None:
        raise AssertionError("a cluster was made before --base-ref was checked")

    monkeypatch.setattr(cluster, "make", make)
    with pytest.raises(versioning.RefNotFound, match="--base-ref 'NO-SUCH-REF'"):
        smoke(SmokeOptions(provider="kwok", chart=TINY, base_ref="NO-SUCH-REF"))
