"""`webstack smoke --matrix` on kwok, end to end through the CLI: every ci values file of a chart
installed at once, one row each, reports written, and the cluster torn down whatever happened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cluster_helpers import processes_under

from webstack.cli import main
from webstack.paths import CHART_DIR, REPO_ROOT

SHOP = REPO_ROOT / "tests" / "fixtures" / "shop"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "webstack-tmp"
    root.mkdir()
    monkeypatch.setenv("WEBSTACK_TMP", str(root))
    return root


def rows_of(report_dir: Path) -> dict[str, dict[str, object]]:
    """The report's steps by name (cluster up, one per values file, cluster down)."""
    data = json.loads((report_dir / "smoke.json").read_text())
    junit = (report_dir / "smoke.junit.xml").read_text()
    steps = {s["name"]: s for s in data["steps"]}
    assert all(f'name="{name}"' in junit for name in steps)
    return steps


def assert_torn_down(root: Path) -> None:
    assert processes_under(root) == [], "cluster processes left running"
    assert list(root.iterdir()) == [], f"temporary folders left: {list(root.iterdir())}"


def test_every_ci_file_of_the_chart_passes(
    tmp_path: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(p.name for p in (CHART_DIR / "ci").glob("*-values.yaml"))
    code = main(["smoke", "--matrix", "--provider", "kwok", "--report-dir", str(tmp_path / "r")])
    out, err = capsys.readouterr()
    steps = rows_of(tmp_path / "r")
    assert code == 0, out
    assert [n for n in steps if n.endswith("-values.yaml")] == files
    for name in files:
        row = steps[name]
        assert row["result"] == "passed", row
        data = row["data"]
        assert data["install_s"] > 0 and data["test_s"] > 0, row  # type: ignore[index,operator]
        names = [s["name"] for s in data["steps"]]  # type: ignore[index]
        assert names == ["namespace", "prerequisites", "install", "helm test", "assert ready", "uninstall",
                         "namespace deletion"], row
        assert f"passed  {name} (install " in err  # printed as it completed
    # what the values declare external was made first, in that file's namespace only
    existing = str(steps["existing-secrets-values.yaml"]["detail"])
    assert "Secret/webstack-mysql-credentials" in existing
    assert "PersistentVolumeClaim/webstack-mysql-backups" in existing
    assert "Secret/webstack-external-db" in str(steps["external-database-values.yaml"]["detail"])
    assert "httproutes.gateway.networking.k8s.io" in str(steps["httproute-values.yaml"]["detail"])
    assert "external objects: none needed" in str(steps["defaults-values.yaml"]["detail"])
    assert steps["cluster down"]["result"] == "passed"
    assert f"{len(files)} values files, 0 failed" in out
    assert_torn_down(private_tmp)


def test_a_broken_values_file_is_a_failed_row_naming_it(
    tmp_path: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone else's chart (the shop fixture), three ci files: the good one passes, the bad ones (a
    replica count and an unknown field the API server refuses) are failed rows saying why, and the
    command exits 1."""
    chart = tmp_path / "shop"
    shutil.copytree(SHOP, chart)
    # The fixture's test pod has no hook-delete-policy, so it outlives `helm uninstall` and the
    # leftover check would rightly fail the good row too: give the copy the policy it lacks.
    test_pod = chart / "templates" / "tests" / "test-connection.yaml"
    test_pod.write_text(test_pod.read_text().replace(
        "helm.sh/hook: test\n", "helm.sh/hook: test\n    helm.sh/hook-delete-policy: hook-succeeded\n"))
    assert "hook-delete-policy" in test_pod.read_text()
    (chart / "ci").mkdir()
    (chart / "ci" / "one-replica-values.yaml").write_text("replicaCount: 1\n")
    (chart / "ci" / "negative-replicas-values.yaml").write_text("replicaCount: -1\n")
    # helm's client-side OpenAPI check is off in the matrix: the server's Strict validation refuses this
    (chart / "ci" / "unknown-field-values.yaml").write_text("resources:\n  limitz:\n    cpu: 100m\n")
    code = main(["smoke", "--matrix", "--provider", "kwok", "--chart", str(chart),
                 "--report-dir", str(tmp_path / "r")])
    out, err = capsys.readouterr()
    steps = rows_of(tmp_path / "r")
    assert code == 1
    assert steps["one-replica-values.yaml"]["result"] == "passed", steps
    bad = steps["negative-replicas-values.yaml"]
    assert bad["result"] == "failed"
    assert str(bad["detail"]).startswith("install failed: helm install failed:"), bad
    assert "spec.replicas" in str(bad["detail"]), bad
    assert "failed  negative-replicas-values.yaml" in err
    unknown = steps["unknown-field-values.yaml"]
    assert unknown["result"] == "failed", unknown
    assert "resources.limitz: field not declared in schema" in str(unknown["detail"]), unknown
    assert "3 values files, 2 failed" in out
    # the failed release was uninstalled all the same
    assert [s["result"] for s in bad["data"]["steps"] if s["name"] == "uninstall"] == ["passed"]  # type: ignore[index]
    assert_torn_down(private_tmp)


def test_a_chart_without_ci_files_is_an_error_before_any_cluster(
    tmp_path: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["smoke", "--matrix", "--provider", "kwok", "--chart", str(SHOP),
                 "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    said = f"error: {SHOP / 'ci'}: no *-values.yaml files, so the matrix has nothing to install"
    assert err.strip() == said
    assert not (tmp_path / "r" / "smoke.json").exists()
    assert_torn_down(private_tmp)


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--jobs", "0"], "error: --jobs 0: expected at least 1"),
     (["--scenario", "x.yaml"], "error: --scenario does not apply to --matrix")],
)
def test_bad_matrix_options(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["smoke", "--matrix", "--provider", "kwok", *extra]) == 2
    assert capsys.readouterr().err.startswith(message)
