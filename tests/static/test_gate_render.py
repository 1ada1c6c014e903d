"""Rendering: one helm run per values set, concurrently, every object remembering its template."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from webstack import helm, render
from webstack.cli import main
from webstack.errors import HelmError, ToolchainError
from webstack.manifests import parse_stream
from webstack.values import ValuesSet, matrix

pytestmark = pytest.mark.static
GATE = Path(__file__).parents[1] / "fixtures" / "gate"
DEMO = GATE / "demo"


def test_matrix_is_defaults_plus_ci_files():
    assert [vs.name for vs in matrix(DEMO)] == ["default", "ha", "nodeport"]


def test_every_object_remembers_its_source_template():
    renders = render.render_all(DEMO, matrix(DEMO))
    assert list(renders) == ["default", "ha", "nodeport"]
    by_ref = {m.ref: m.source for m in renders["default"].manifests}
    assert by_ref["Deployment/webstack-web"] == "demo/charts/web/templates/deployment.yaml"
    assert by_ref["Service/webstack-web"] == "demo/charts/web/templates/service.yaml"
    assert "PodDisruptionBudget/webstack-web" not in by_ref  # pdb.enabled is false by default
    ha = {m.ref: m for m in renders["ha"].manifests}
    assert ha["Deployment/webstack-web"].doc["spec"]["replicas"] == 3
    assert ha["PodDisruptionBudget/webstack-web"].source.endswith("templates/poddisruptionbudget.yaml")


def test_parse_stream_drops_empty_documents_and_keeps_order():
    text = (
        "---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/empty.yaml\n\n---\n"
        "# Source: c/templates/b.yaml\nkind: B\n"
    )
    assert [(m.source, m.kind, m.index) for m in parse_stream(text)] == [
        ("c/templates/a.yaml", "A", 0),
        ("c/templates/b.yaml", "B", 1),
    ]


def test_output_dir_has_one_folder_per_values_set(tmp_path, capsys):
    out = tmp_path / "render"
    assert main(["render", "--chart", str(DEMO), "--matrix", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [".webstack-output", "default", "ha", "nodeport"]
    deployment = out / "ha" / "demo" / "charts" / "web" / "templates" / "deployment.yaml"
    assert "# Source: demo/charts/web/templates/deployment.yaml" in deployment.read_text()
    assert not (
        out / "default" / "demo" / "charts" / "web" / "templates" / "poddisruptionbudget.yaml"
    ).exists()
    # a second render replaces the tree; nothing stale, no temp folders left behind
    assert main(["render", "--chart", str(DEMO), "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [".webstack-output", "default"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render"]


def test_render_to_stdout_names_each_values_set(capsys):
    assert main(["render", "--chart", str(DEMO), "--matrix"]) == 0
    out = capsys.readouterr().out
    assert out.count("# values set:") == 3 and "kind: Deployment" in out


def test_template_failure_names_the_template_file_and_line(tmp_path, capsys):
    out = tmp_path / "render"
    assert main(["render", "--chart", str(GATE / "broken"), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "broken/templates/configmap.yaml:7" in err
    assert "nil pointer" in err
    assert not out.exists(), "nothing may be written when a render fails"


def test_failed_render_leaves_previous_output_untouched(tmp_path):
    out = tmp_path / "render"
    assert main(["render", "--chart", str(DEMO), "--output", str(out)]) == 0
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert main(["render", "--chart", str(GATE / "broken"), "--output", str(out)]) == 2
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before


def test_render_error_is_a_helm_error():
    with pytest.raises(HelmError, match=r"configmap.yaml:7"):
        render.render_all(GATE / "broken", [ValuesSet("default")])


@pytest.fixture
def _fresh_helm():
    helm.binary.cache_clear()
    yield
    helm.binary.cache_clear()


def test_no_helm_binary_says_how_to_get_one(tmp_path, monkeypatch, capsys, _fresh_helm):
    monkeypatch.delenv("WEBSTACK_HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("WEBSTACK_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ToolchainError, match="no helm binary: run `make setup`"):
        helm.binary()
    out = tmp_path / "render"
    assert main(["render", "--chart", str(DEMO), "--output", str(out)]) == 2
    assert "no helm binary" in capsys.readouterr().err
    assert not out.exists()


def test_webstack_helm_pointing_nowhere_is_exit_2(tmp_path, monkeypatch, capsys, _fresh_helm):
    monkeypatch.setenv("WEBSTACK_HELM", str(tmp_path / "nowhere" / "helm"))
    assert main(["check", "--chart", str(DEMO)]) == 2
    assert "WEBSTACK_HELM" in capsys.readouterr().err


def test_not_a_chart_is_exit_2(tmp_path, capsys):
    shutil.copytree(DEMO / "ci", tmp_path / "ci")
    assert main(["render", "--chart", str(tmp_path)]) == 2
    assert "no Chart.yaml" in capsys.readouterr().err
