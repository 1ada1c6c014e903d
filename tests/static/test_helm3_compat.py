"""The chart on Helm 3 as on Helm 4: the pinned Helm 3 build (`helm3`, webstack.toolchain) lints
every chart with every ci values file under --strict, and renders every values set of the matrix
into exactly the objects Helm 4 renders (parsed and compared; only the generated MySQL passwords,
random on every render, are masked). The toolkit itself keeps Helm 4 as its engine.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_chart_lint import lint_values

from helm3 import Runner, runner
from webstack import helm
from webstack.paths import CHART_DIR, SUBCHARTS, subchart_dir
from webstack.render import NAMESPACE, RELEASE
from webstack.toolchain import HELM3_VERSION, TOOLS
from webstack.values import ValuesSet, matrix

pytestmark = pytest.mark.static

CI_FILES = sorted((CHART_DIR / "ci").glob("*-values.yaml"))
CHARTS = ("webstack", *SUBCHARTS)
SETS = matrix(CHART_DIR)


@pytest.fixture(scope="module")
def helm3(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return runner(tmp_path_factory.mktemp("helm3-home"))


def test_helm3_is_the_pinned_stamped_build(helm3) -> None:
    res = helm3("version", "--template", "{{.Version}}")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == HELM3_VERSION
    assert TOOLS["helm3"].binary().name == "helm3", "never `helm`: that name is Helm 4's"
    assert helm.binary() != TOOLS["helm3"].binary(), "the toolkit's engine stays Helm 4"
    assert helm.reported_version(helm.binary()).startswith("v4.")


@pytest.fixture(scope="module")
def lint3(helm3, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], str]:
    """(chart, ci file) -> '' when Helm 3's `lint --strict` passed, else its output."""
    tmp = tmp_path_factory.mktemp("lint3")

    def lint(chart: str, ci_file: Path) -> tuple[tuple[str, str], str]:
        path = CHART_DIR if chart == "webstack" else subchart_dir(chart)
        res = helm3("lint", "--strict", str(path), "--values", str(lint_values(chart, ci_file, tmp)))
        ok = res.returncode == 0 and "0 chart(s) failed" in res.stdout
        return (chart, ci_file.name), "" if ok else res.stdout + res.stderr

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(lambda a: lint(*a), [(c, f) for c in CHARTS for f in CI_FILES]))


@pytest.mark.parametrize("chart", CHARTS)
@pytest.mark.parametrize("ci_file", [f.name for f in CI_FILES])
def test_helm3_lint_strict(lint3: dict[tuple[str, str], str], chart: str, ci_file: str) -> None:
    assert lint3[(chart, ci_file)] == "", lint3[(chart, ci_file)]


def _objects(stream: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Rendered objects by (kind, name), with the randomly generated MySQL passwords masked."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in yaml.safe_load_all(stream):
        if not doc:
            continue
        if doc["kind"] == "Secret" and doc["metadata"]["name"] == f"{RELEASE}-mysql":
            doc["data"] = dict.fromkeys(doc.get("data") or {}, "<generated>")
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in out, f"{key} rendered twice"
        out[key] = doc
    return out


def _template_args(vs: ValuesSet) -> list[str]:
    args = ["template", RELEASE, str(CHART_DIR), "--namespace", NAMESPACE]
    for f in vs.files:
        args += ["--values", str(f)]
    return args


@pytest.mark.parametrize("vs", SETS, ids=[vs.name for vs in SETS])
def test_helm3_template_renders_what_helm4_renders(helm3, vs: ValuesSet) -> None:
    res3 = helm3(*_template_args(vs))
    assert res3.returncode == 0, res3.stderr
    res4 = helm.run(_template_args(vs))
    three, four = _objects(res3.stdout), _objects(res4.stdout)
    assert sorted(three) == sorted(four)
    assert len(four) >= 10
    for key, doc in four.items():
        assert three[key] == doc, f"{vs.name}: {key[0]}/{key[1]} differs between Helm 3 and Helm 4"


def test_helm3_refuses_bad_values_like_helm4(helm3) -> None:
    """The values schemas hold under Helm 3 too (a typo and a restricted-PSS breach)."""
    for flag, expect in (("nginx.httpRoute.enabeld=true", "enabeld"),
                         ("nginx.securityContext.allowPrivilegeEscalation=true", "allowPrivilegeEscalation")):
        res = helm3("template", RELEASE, str(CHART_DIR), "--set", flag)
        assert res.returncode != 0 and expect in res.stderr, res.stderr
