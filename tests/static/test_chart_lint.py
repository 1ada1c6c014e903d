"""The chart's gates with the real tools: helm lint --strict (umbrella and every subchart, with every
ci values file), ct lint with ct.yaml, kubeconform -strict on every render for the oldest (1.30)
and newest (1.37) supported Kubernetes, strict values schemas, render-time guards, fresh READMEs.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from webstack import docs, helm
from webstack.checks import crds
from webstack.checks.kubernetes import kubeconform_schema_location
from webstack.errors import HelmError
from webstack.manifests import dump_stream
from webstack.paths import CHART_DIR, REPO_ROOT, SUBCHARTS, subchart_dir
from webstack.render import RELEASE, render_jobs
from webstack.toolchain import TOOLS
from webstack.values import matrix

pytestmark = pytest.mark.static

CI_FILES = sorted((CHART_DIR / "ci").glob("*-values.yaml"))
KUBE_VERSIONS = ("1.30.0", "1.37.0")
CHARTS = ("webstack", *SUBCHARTS)


def lint_values(chart: str, ci_file: Path, tmp: Path) -> Path:
    """The ci file as the chart sees it: the umbrella takes it whole, a subchart its own section + global."""
    if chart == "webstack":
        return ci_file
    data = yaml.safe_load(ci_file.read_text()) or {}
    own = dict(data.get(chart) or {})
    if "global" in data:
        own["global"] = data["global"]
    out = tmp / f"{chart}-{ci_file.name}"
    out.write_text(yaml.safe_dump(own))
    return out


@pytest.fixture(scope="module")
def lint_results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], str]:
    """(chart, ci file) -> '' when `helm lint --strict` passed, else helm's output. Run concurrently."""
    tmp = tmp_path_factory.mktemp("lint")

    def lint(chart: str, ci_file: Path) -> tuple[tuple[str, str], str]:
        path = CHART_DIR if chart == "webstack" else subchart_dir(chart)
        res = helm.run(["lint", "--strict", str(path), "--values", str(lint_values(chart, ci_file, tmp))],
                       check=False)
        ok = res.returncode == 0 and "0 chart(s) failed" in res.stdout
        return (chart, ci_file.name), "" if ok else res.stdout + res.stderr

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(lambda a: lint(*a), [(c, f) for c in CHARTS for f in CI_FILES]))


@pytest.mark.parametrize("chart", CHARTS)
@pytest.mark.parametrize("ci_file", [f.name for f in CI_FILES])
def test_helm_lint_strict(lint_results: dict[tuple[str, str], str], chart: str, ci_file: str) -> None:
    assert lint_results[(chart, ci_file)] == "", lint_results[(chart, ci_file)]


def test_ct_lint_all_charts() -> None:
    ct = TOOLS["chart-testing"].binary()
    if not ct.is_file():
        pytest.fail(f"ct is not built ({ct}): run `make setup`")
    # ct calls helm, yamllint and yamale by name.
    path = f"{helm.binary().parent}:{REPO_ROOT / '.venv/bin'}:{os.environ.get('PATH', '')}"
    env = dict(os.environ, PATH=path)
    res = subprocess.run([str(ct), "lint", "--config", "ct.yaml", "--all"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "All charts linted successfully" in out
    for chart in CHARTS:
        assert f"{chart} => (version:" in out, f"ct did not lint {chart}"
    for f in CI_FILES:
        assert f"ci/{f.name}" in out, f"ct did not use {f.name}"


# --- kubeconform ------------------------------------------------------------------------------------

Reports = dict[str, dict[str, list[dict]]]  # Kubernetes version -> file name -> kubeconform results
OPTIONAL = ("mysql.backup.enabled=true,mysql.restore.enabled=true,mysql.metrics.enabled=true,"
            "nginx.service.type=NodePort,nginx.service.nodePort=30080")


@pytest.fixture(scope="module")
def kubeconform():
    """Run kubeconform -strict over files; returns {file name: [result, ...]} (one process per call)."""
    binary = TOOLS["kubeconform"].binary()
    if not binary.is_file():
        pytest.fail(f"kubeconform is not built ({binary}): run `make setup`")
    # kubernetes-validate's bundled schemas, made loadable offline by kubeconform (one place: the gate's).
    location = kubeconform_schema_location([v.rsplit(".", 1)[0] for v in KUBE_VERSIONS])
    # custom resources (HTTPRoute, ServiceMonitor, ...): the pinned CRD schemas the gate uses too
    crd_location = crds.kubeconform_crd_location()

    def run(files: list[Path], version: str) -> dict[str, list[dict]]:
        res = subprocess.run([str(binary), "-strict", "-summary", "-verbose", "-output", "json",
                              "-kubernetes-version", version, "-schema-location", location,
                              "-schema-location", crd_location, *map(str, files)],
                             capture_output=True, text=True, timeout=300, check=False)
        out: dict[str, list[dict]] = {Path(f).name: [] for f in files}
        for r in json.loads(res.stdout)["resources"]:
            out[Path(r["filename"]).name].append(r)
        return out

    return run


@pytest.fixture(scope="module")
def kubeconform_reports(kubeconform, tmp_path_factory: pytest.TempPathFactory) -> Reports:
    """Every ci render, plus one with every optional object on, validated in one run per Kubernetes version
    (kubeconform compiles each kind's schema once per run)."""
    tmp = tmp_path_factory.mktemp("renders")
    renders = render_jobs({vs.name: (CHART_DIR, vs) for vs in matrix(CHART_DIR)})
    files = []
    for name, r in renders.items():
        files.append(tmp / f"{name}.yaml")
        files[-1].write_text(dump_stream(r.manifests))
    files.append(tmp / "optional.yaml")
    files[-1].write_text(helm.run(["template", RELEASE, str(CHART_DIR), "--set", OPTIONAL]).stdout)
    return {v: kubeconform(files, v) for v in KUBE_VERSIONS}


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", [*(vs.name for vs in matrix(CHART_DIR)), "optional"])
def test_kubeconform_strict(kubeconform_reports: Reports, scenario: str,
                            version: str) -> None:
    results = kubeconform_reports[version][f"{scenario}.yaml"]
    bad = [r for r in results if r["status"] != "statusValid"]
    assert not bad, bad
    assert len(results) >= 10


def test_optional_render_has_the_optional_objects(kubeconform_reports: Reports) -> None:
    kinds = {r["kind"] for r in kubeconform_reports["1.30.0"]["optional.yaml"]}
    assert {"Job", "CronJob", "PersistentVolumeClaim"} <= kinds


def test_kubeconform_catches_a_bad_field(kubeconform, tmp_path: Path) -> None:
    """The converted schemas really validate: an unknown field fails under -strict."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  portz: []\n")
    [result] = kubeconform([bad], "1.30.0")["bad.yaml"]
    assert result["status"] == "statusInvalid" and "portz" in result["msg"]


# --- values schemas and render-time guards ----------------------------------------------------------------

@pytest.mark.parametrize(("flag", "expect"), [
    ("flask.replicaCont=3", "replicaCont"),                      # a typo is an error, not a no-op
    ("nginx.ingress.enabeld=true", "enabeld"),
    ("mysql.auth.passwrod=x", "passwrod"),
    ("globl.imageRegistry=x", "globl"),
    ("flask.podSecurityContext.runAsUser=0", "runAsUser"),       # restricted PSS held by the schema
    ("nginx.securityContext.allowPrivilegeEscalation=true", "allowPrivilegeEscalation"),
    ("flask.image.pullPolicy=Sometimes", "pullPolicy"),
    ("mysql.backup.retention=0", "retention"),
    ("flask.service.port=70000", "port"),
    ("flask.image.digest=md5:abc", "digest"),
    ("mysql.backup.schedule=every-day", "schedule"),
    # values that go together: if/then rules of the schemas (tests/static/test_chart_value_rules.py)
    ("mysql.enabled=false", "/flask/externalDatabase/host"),
    ("flask.externalDatabase.host=db", "/externalDatabase/existingSecret"),
    ("mysql.restore.enabled=true", "/backup/persistence/existingClaim"),
])
def test_values_schema_rejects(flag: str, expect: str) -> None:
    with pytest.raises(HelmError) as err:
        helm.run(["template", RELEASE, str(CHART_DIR), "--set", flag])
    assert expect in str(err.value)


@pytest.mark.parametrize("chart", SUBCHARTS)
def test_every_subchart_schema_is_strict_at_the_top(chart: str) -> None:
    schema = json.loads((subchart_dir(chart) / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    defaults = yaml.safe_load((subchart_dir(chart) / "values.yaml").read_text())
    assert set(defaults) <= set(schema["properties"]), "every default value is described by the schema"


@pytest.mark.parametrize(("flags", "expect"), [
    ("flask.terminationGracePeriodSeconds=10", "must be greater than lifecycle.preStopSleepSeconds"),
    ("nginx.terminationGracePeriodSeconds=2", "must be greater than preStopSleepSeconds"),
    ("flask.autoscaling.enabled=true,flask.autoscaling.minReplicas=5,flask.autoscaling.maxReplicas=3",
     "flask: autoscaling.minReplicas (5) must not exceed"),
    ("nginx.autoscaling.enabled=true,nginx.autoscaling.minReplicas=9", "nginx: autoscaling.minReplicas (9)"),
])
def test_render_time_guards(flags: str, expect: str) -> None:
    with pytest.raises(HelmError) as err:
        helm.run(["template", RELEASE, str(CHART_DIR), "--set", flags])
    assert expect in str(err.value)


# --- chart metadata and docs ---------------------------------------------------------------------------

def test_dependencies_local_conditional_and_locked() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    lock = yaml.safe_load((CHART_DIR / "Chart.lock").read_text())
    assert chart["apiVersion"] == "v2" and chart["kubeVersion"] == ">=1.30.0-0"
    deps = {d["name"]: d for d in chart["dependencies"]}
    assert set(deps) == set(SUBCHARTS)
    for name, dep in deps.items():
        # In-tree: no repository, so helm never archives a second copy beside the folder.
        assert "repository" not in dep and dep["condition"] == f"{name}.enabled"
        sub = yaml.safe_load((subchart_dir(name) / "Chart.yaml").read_text())
        assert sub["version"] == dep["version"] and sub["kubeVersion"] == ">=1.30.0-0"
    locked = {d["name"]: d["version"] for d in lock["dependencies"]}
    assert locked == {n: d["version"] for n, d in deps.items()}


def test_subcharts_switch_off() -> None:
    res = helm.run(["template", RELEASE, str(CHART_DIR), "--set", "nginx.enabled=false,mysql.enabled=false,"
                    "flask.externalDatabase.host=db,flask.externalDatabase.existingSecret=s"])
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(res.stdout) if d}
    assert not any(n.startswith(f"{RELEASE}-nginx") or n.startswith(f"{RELEASE}-mysql") for n in names)
    assert f"{RELEASE}-webstack-test-api" not in names, "the helm test goes through nginx"


def test_readmes_are_fresh() -> None:
    assert docs.stale_readmes(CHART_DIR) == [], "run `make docs`"


def test_readme_staleness_is_detected(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "webstack"
    shutil.copytree(CHART_DIR, copy)
    values = copy / "charts" / "nginx" / "values.yaml"
    values.write_text(values.read_text().replace("# -- Port nginx listens on (unprivileged)",
                                                 "# -- The port nginx listens on"))
    assert docs.stale_readmes(copy) == [copy / "charts" / "nginx" / "README.md"]
    assert docs.write(copy) == [copy / "charts" / "nginx" / "README.md"]
    assert docs.stale_readmes(copy) == []


def test_undocumented_value_is_an_input_error(tmp_path: Path) -> None:
    import shutil

    from webstack.errors import InputError

    copy = tmp_path / "webstack"
    shutil.copytree(CHART_DIR, copy)
    values = copy / "charts" / "flask" / "values.yaml"
    values.write_text(values.read_text() + "undocumentedKey: 1\n")
    with pytest.raises(InputError, match=r"flask/values.yaml: no `# --` description for undocumentedKey"):
        docs.stale_readmes(copy)


def test_docs_command_exit_codes(tmp_path: Path) -> None:
    import shutil

    from webstack.cli import main

    copy = tmp_path / "webstack"
    shutil.copytree(CHART_DIR, copy)
    assert main(["docs", "--chart", str(copy)]) == 0
    (copy / "README.md").write_text("stale\n")
    assert main(["docs", "--chart", str(copy)]) == 1
    assert main(["docs", "--chart", str(copy), "--write"]) == 0
    assert main(["docs", "--chart", str(copy)]) == 0
    assert main(["docs", "--chart", str(tmp_path / "nope")]) == 2
